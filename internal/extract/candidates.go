package extract

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"

	"github.com/errandhq/errand/internal/output"
	"github.com/itlightning/dateparse"
)

// A field is answered from candidates: every value the page's sources give
// for it, converted to the schema's type, each with the rank of its source
// (see record.rank). The highest rank that has candidates decides, and its
// candidates must agree; when they do not, neither is clearly the field and
// it is not answered. Candidates that are not plausible for the field (a
// URL where a person's name is asked, the site's name where a headline is)
// are dropped before that.

type candidate struct {
	v    any
	rank int
}

// items is a list element read as a value: the texts of its items.
type items []string

// noConflict groups pick their best-ranked value without checking the
// others: a page legitimately has several images and addresses for itself,
// and prose is never written twice the same way.
var noConflict = set("url", "image", "description", "articlebody")

// decide picks the answer among cands, or reports the disagreeing values.
func decide(g string, cands []candidate) (v any, disagree []any, ok bool) {
	if len(cands) == 0 {
		return nil, nil, false
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].rank > cands[j].rank })
	top := cands[0]
	if noConflict[g] {
		return top.v, nil, true
	}
	for _, c := range cands[1:] {
		if c.rank < top.rank {
			break
		}
		if !agree(g, top.v, c.v) && !containsAgreeing(g, disagree, c.v) {
			disagree = append(disagree, c.v)
		}
	}
	if len(disagree) > 0 {
		return nil, append([]any{top.v}, disagree...), false
	}
	return top.v, nil, true
}

func containsAgreeing(g string, vs []any, v any) bool {
	for _, x := range vs {
		if agree(g, x, v) {
			return true
		}
	}
	return false
}

// agree reports whether two candidates say the same: numbers by value,
// dates by day, phone numbers by number, countries by country, text
// folded.
func agree(g string, a, b any) bool {
	an, aok := a.(json.Number)
	bn, bok := b.(json.Number)
	if aok && bok {
		af, err1 := an.Float64()
		bf, err2 := bn.Float64()
		return err1 == nil && err2 == nil && af == bf
	}
	as, aok := a.(string)
	bs, bok := b.(string)
	if !aok || !bok {
		return a == b
	}
	if norm(as) == norm(bs) {
		return true
	}
	switch g {
	case "telephone", "faxnumber":
		return samePhone(as, bs)
	case "addresscountry":
		ca, cb := countryCode(as), countryCode(bs)
		return ca != "" && ca == cb
	case "datepublished", "datemodified", "startdate":
		return sameDay(as, bs)
	}
	return false
}

func sameDay(a, b string) bool {
	ta, err1 := dateparse.ParseAny(a)
	tb, err2 := dateparse.ParseAny(b)
	if err1 != nil || err2 != nil {
		return false
	}
	ya, ma, da := ta.Date()
	yb, mb, db := tb.Date()
	return ya == yb && ma == mb && da == db
}

// urlish reports whether a property holds an address (a link, an image),
// where a URL is the answer rather than a stand-in for one.
func urlish(p *output.Property, g string) bool {
	switch p.Schema.Format {
	case "uri", "iri", "uri-reference", "iri-reference", "url":
		return true
	}
	if g == "url" || g == "image" {
		return true
	}
	n := norm(p.Name)
	for _, w := range []string{"url", "link", "href", "website", "homepage", "logo", "image", "photo", "src", "sameas", "uri"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// schemaEnum is a schema.org enumeration member ("https://schema.org/InStock"),
// a value rather than a link.
var schemaEnum = regexp.MustCompile(`^(?i)https?://(www\.)?schema\.org/[A-Za-z]+$`)

var refRe = regexp.MustCompile(`^(?i)([a-z][a-z0-9+.-]*://|www\.|/|#|urn:|_:)`)

// byRe strips the words that introduce a byline: "By", "Written by",
// "Recipe by", "Von", "Par", "Door".
var byRe = regexp.MustCompile(`(?i)^(?:(?:[\p{L}]+\s+){0,2}by|von|par|door|di|por|autor(?:in)?:?|author:?)\s+`)

// atRe is the word a job page puts before the employer: "at Acme".
var atRe = regexp.MustCompile(`(?i)^(at|by|with|bei|chez|presso|en)\s+`)

// segmentSep splits a line of several facts: "Acme · Berlin · Hybrid".
var segmentSep = regexp.MustCompile(`\s+[·•|]\s+|\s+[–—]\s+`)

// plausible shapes a found string for the field it may answer, or refuses
// it: identifiers and links where a name is asked, the site's own name
// where a headline is, a byline's "By" and trailing date, a company line's
// city and work mode.
func (f *filler) plausible(g string, p *output.Property, src *record, s string) (string, bool) {
	s = clean(s)
	if s == "" {
		return "", false
	}
	if !f.name(p).urlish && g != "email" && refRe.MatchString(s) && !schemaEnum.MatchString(s) {
		return "", false
	}
	switch g {
	case "name":
		if (src.rank <= 1 || src.source == "heading") && f.pg.siteNames()[norm(s)] {
			return "", false
		}
		if pageHeadings[norm(s)] {
			return "", false // the page's heading names the page, not a thing
		}
	case "author":
		if f.pg.siteNames()[norm(s)] {
			return "", false // <meta name="author" content="The Daily Ledger">
		}
		s = byRe.ReplaceAllString(s, "")
		if parts := segmentSep.Split(s, -1); len(parts) > 1 {
			s = parts[0]
		}
		if i := strings.Index(s, ", "); i > 0 {
			s = s[:i] // "Amal Haddad, environment reporter"
		}
		if !personLike(s) {
			return "", false
		}
	case "address", "streetaddress":
		if strings.Contains(s, "@") || digits(s) > 14 {
			return "", false // a whole contact block, not an address
		}
	case "company":
		if parts := segmentSep.Split(s, -1); len(parts) > 1 {
			s = parts[0]
		}
		s = atRe.ReplaceAllString(s, "") // "at Northwind Labs"
	}
	return s, s != ""
}

// pageHeadings are the headings of a site's standard pages, which name
// the page ("Contact Us") rather than the business or thing asked for.
var pageHeadings = set("contact", "contactus", "getintouch", "visitus", "findus", "about", "aboutus", "ourstory", "ourteam", "team",
	"faq", "faqs", "home", "welcome", "kontakt", "impressum", "uberuns", "überuns", "nouscontacter", "contacteznous", "quisommesnous",
	"contacto", "contactenos", "contatti", "contattaci", "chisiamo", "overons", "contacteer", "locations", "directions", "openinghours")

// personLike is a name as bylines write it: a few words, no digits, no
// e-mail.
func personLike(s string) bool {
	if s == "" || len(s) > 80 || strings.ContainsAny(s, "@0123456789") {
		return false
	}
	return len(strings.Fields(s)) <= 6
}

// siteNames are the site's own names, folded: og:site_name,
// application-name, the WebSite and publisher of the structured data, and
// the host's name. A headline that is one of them is no headline.
func (pg *page) siteNames() map[string]bool {
	if pg.siteNameSet != nil {
		return pg.siteNameSet
	}
	m := map[string]bool{}
	for _, sel := range []string{`meta[property="og:site_name"]`, `meta[name="application-name"]`, `meta[name="apple-mobile-web-app-title"]`} {
		if v, ok := pg.doc.Find(sel).First().Attr("content"); ok && norm(v) != "" {
			m[norm(v)] = true
		}
	}
	for _, r := range pg.jsonLD() {
		if r.isType("website") || r.isType("organization") && len(pg.jsonLD()) > 1 {
			for _, v := range r.fields["name"] {
				if s, ok := v.(string); ok && norm(s) != "" {
					m[norm(s)] = true
				}
			}
		}
		for _, v := range r.fields["publisher"] {
			if sub, ok := v.(*record); ok {
				for _, n := range sub.fields["name"] {
					if s, ok := n.(string); ok && norm(s) != "" {
						m[norm(s)] = true
					}
				}
			}
		}
	}
	if pg.url != nil {
		labels := strings.Split(strings.TrimPrefix(pg.url.Hostname(), "www."), ".")
		if len(labels) >= 2 {
			m[norm(labels[len(labels)-2])] = true
		}
	}
	pg.siteNameSet = m
	return m
}

// titleSep are the separators titles join a page's name and the site's
// with: "Headline | Site", "Site – Headline".
var titleSep = regexp.MustCompile(`\s+(?:[|·•»:]{1,2}|[-–—])\s+`)

// strongSep marks titles that join parts of which only one is the page's:
// "-" and "–" also occur inside names ("Mug - Blue Glaze").
var strongSep = regexp.MustCompile(`\s+(?:[|·•»]|::)\s+`)

// cleanTitle takes the site's name off a page title. It refuses a title
// that is only the site's name, and one that still joins several parts
// with "|" once the site's name is off, since which part is the page's is
// then a guess.
func (pg *page) cleanTitle(t string) (string, bool) {
	t = clean(t)
	names := pg.siteNames()
	if t == "" || names[norm(t)] {
		return "", false
	}
	seps := titleSep.FindAllStringIndex(t, -1)
	if len(seps) > 0 {
		// Drop a leading or trailing part that is the site's name.
		first := t[:seps[0][0]]
		last := t[seps[len(seps)-1][1]:]
		switch {
		case names[norm(last)]:
			t = t[:seps[len(seps)-1][0]]
		case names[norm(first)]:
			t = t[seps[0][1]:]
		}
	}
	if strongSep.MatchString(t) {
		return "", false
	}
	return t, t != ""
}
