package extract

import (
	"bytes"
	"net/url"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
)

// record is one thing a page says about something: a JSON-LD object, a
// microdata item, the page's meta tags, one row of a table, one card of a
// repeated list. Fields are keyed by folded name (see norm) and hold, in the
// order found, strings, json.Numbers, bools and nested records.
type record struct {
	source string   // where it came from, for tie-breaks and debugging
	types  []string // folded @type / itemtype names
	fields map[string][]any
	// rank is how clearly the record's values are the fields they are
	// filed under: 3 the main heading (for a name), 2 declared data and
	// elements or labels named exactly, 1 weaker evidence (meta tags, a word
	// of a class name, plain text), 0 page furniture read as a last resort.
	// Among the candidates of the highest rank that has any, all must agree
	// or the field is not answered.
	rank int
	// independent records hold separate findings (elements of the page,
	// each its own candidate); a declared record's values under one key are
	// one statement, whose first usable value counts.
	independent bool
	// weak holds the same thing's weaker findings (words of class names,
	// headings and links guessed as a name), one rank lower.
	weak *record
	// node is the element or script the record was read from, when known.
	node *html.Node
}

func newRecord(source string) *record {
	return &record{source: source, fields: map[string][]any{}, rank: 2}
}

// weaker returns r's record of weaker findings, made on first use.
func (r *record) weaker() *record {
	if r.weak == nil {
		r.weak = newRecord(r.source + "-weak")
		r.weak.rank = r.rank - 1
		r.weak.independent = r.independent
	}
	return r.weak
}

func (r *record) add(key string, v any) {
	if key == "" || v == nil {
		return
	}
	if s, ok := v.(string); ok {
		if s = clean(s); s == "" {
			return
		}
		v = s
	}
	r.fields[key] = append(r.fields[key], v)
}

func (r *record) isType(names ...string) bool {
	for _, t := range r.types {
		for _, n := range names {
			if t == n {
				return true
			}
		}
	}
	return false
}

// containers are the nested records a value may sit one level down in:
// a product's price is in its offers, a rating in aggregateRating.
var containers = []string{"offers", "offer", "pricespecification", "aggregateoffer", "aggregaterating", "mainentity", "location", "joblocation", "address"}

// lookup returns the values under the first of keys that r (or one of its
// containers) has.
func (r *record) lookup(keys []string) []any {
	return r.lookupDepth(keys, 0)
}

func (r *record) lookupDepth(keys []string, depth int) []any {
	for _, k := range keys {
		if vs := r.fields[k]; len(vs) > 0 {
			return vs
		}
	}
	if depth >= 2 {
		return nil
	}
	for _, c := range containers {
		for _, v := range r.fields[c] {
			if sub, ok := v.(*record); ok {
				if vs := sub.lookupDepth(keys, depth+1); len(vs) > 0 {
					return vs
				}
			}
		}
	}
	return nil
}

// page is a fetched document, parsed once, with what it declares about
// itself gathered lazily.
type page struct {
	url  *url.URL
	doc  *goquery.Document
	html []byte
	// inList marks the items of repeated lists, once repeated has run.
	inList map[*html.Node]bool
	lists  []list
	// lang is the page's declared language ("de-DE"), lower case; it
	// decides how "1.299" reads.
	lang      string
	furn      map[*html.Node]furnKind
	factCache map[*html.Node]*facts
	pairRuns  map[*html.Node]map[string]bool
	wordCache map[string][]string
	// memoised sources
	siteNameSet map[string]bool
	ld          []*record
	ldDone      bool
}

func parsePage(p Page) (*page, error) {
	doc, err := goquery.NewDocumentFromReader(bytes.NewReader(p.HTML))
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(p.URL)
	if err != nil || p.URL == "" {
		u = nil
	}
	if base, ok := doc.Find("base[href]").First().Attr("href"); ok && u != nil {
		if b, err := u.Parse(strings.TrimSpace(base)); err == nil {
			u = b
		}
	}
	lang, _ := doc.Find("html").First().Attr("lang")
	if lang == "" {
		lang, _ = doc.Find(`meta[http-equiv="content-language" i]`).First().Attr("content")
	}
	return &page{url: u, doc: doc, html: p.HTML, lang: strings.ToLower(strings.TrimSpace(lang))}, nil
}

// abs resolves a link found on the page against the page's address.
func (pg *page) abs(ref string) string {
	ref = strings.TrimSpace(ref)
	if ref == "" || pg.url == nil {
		return ref
	}
	if strings.HasPrefix(ref, "javascript:") || strings.HasPrefix(ref, "data:") {
		return ""
	}
	u, err := pg.url.Parse(ref)
	if err != nil {
		return ref
	}
	return u.String()
}

// clean collapses runs of white space (including no-break spaces) into one
// space and trims the ends.
func clean(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\u00a0", " ")), " ")
}

// blockTags separate words when an element's text is flattened; goquery's
// Text glues <p>a</p><p>b</p> into "ab".
var blockTags = map[string]bool{
	"address": true, "article": true, "aside": true, "blockquote": true, "br": true, "dd": true, "div": true,
	"dl": true, "dt": true, "fieldset": true, "figcaption": true, "figure": true, "footer": true, "form": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "h5": true, "h6": true, "header": true, "hr": true,
	"li": true, "main": true, "nav": true, "ol": true, "p": true, "pre": true, "section": true, "table": true,
	"td": true, "th": true, "tr": true, "ul": true, "option": true,
}

// skipTags never hold visible text.
var skipTags = map[string]bool{"script": true, "style": true, "noscript": true, "template": true, "svg": true, "head": true, "iframe": true}

// textOf is the visible text of n, words of separate blocks kept apart.
func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return
		case html.ElementNode:
			if skipTags[n.Data] {
				return
			}
			if blockTags[n.Data] {
				b.WriteByte(' ')
				defer b.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return clean(b.String())
}

func attr(n *html.Node, name string) (string, bool) {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, name) {
			return a.Val, true
		}
	}
	return "", false
}

// elementValue is what an element says as a value, by the microdata rules
// (content, href, src, datetime before text), which also fit class-named
// elements of pages without microdata.
func (pg *page) elementValue(n *html.Node) string {
	if v, ok := attr(n, "content"); ok {
		return v
	}
	switch n.Data {
	case "meta":
		return ""
	case "a", "area", "link":
		if v, ok := attr(n, "href"); ok {
			return pg.abs(v)
		}
	case "img", "audio", "embed", "iframe", "source", "track", "video":
		if v, ok := attr(n, "src"); ok {
			return pg.abs(v)
		}
	case "object":
		if v, ok := attr(n, "data"); ok {
			return pg.abs(v)
		}
	case "data", "meter":
		if v, ok := attr(n, "value"); ok {
			return v
		}
	case "time":
		if v, ok := attr(n, "datetime"); ok {
			return v
		}
	}
	return pg.valueText(n)
}

// boilerplate reports whether n sits in page furniture or in a block
// about other things (see furnitureOf): whose titles and prices are not the
// page's.
func (pg *page) boilerplate(n *html.Node) bool {
	return pg.furnitureOf(n) != furnNone
}

func hasAncestor(n *html.Node, tags ...string) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if p.Type == html.ElementNode {
			for _, t := range tags {
				if p.Data == t {
					return true
				}
			}
		}
	}
	return false
}
