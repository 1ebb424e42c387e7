package extract

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"golang.org/x/net/html"
)

// jsonLD returns every JSON-LD entity the page declares: the top-level
// objects of each script, the members of @graph, and the mainEntity of
// pages, with {"@id": …} references replaced by the object they name.
// Scripts that do not parse are skipped: one broken block must not hide
// the others.
func (pg *page) jsonLD() []*record {
	var tops []*record
	byID := map[string]*record{}
	var refs []*record // records that are only an @id, to resolve afterwards
	var toRecord func(m map[string]any) *record
	var value func(v any) []any
	value = func(v any) []any {
		switch v := v.(type) {
		case map[string]any:
			if lit, ok := v["@value"]; ok {
				return value(lit)
			}
			return []any{toRecord(v)}
		case []any:
			var out []any
			for _, e := range v {
				out = append(out, value(e)...)
			}
			return out
		case string, json.Number, bool:
			return []any{v}
		}
		return nil
	}
	toRecord = func(m map[string]any) *record {
		r := newRecord("json-ld")
		for k, v := range m {
			switch k {
			case "@context", "@graph":
			case "@type":
				for _, t := range value(v) {
					if s, ok := t.(string); ok {
						r.types = append(r.types, norm(term(s)))
					}
				}
			case "@id":
				if s, ok := v.(string); ok {
					r.fields["@id"] = []any{s}
				}
			default:
				for _, x := range value(v) {
					r.add(norm(term(k)), x)
				}
			}
		}
		if id, ok := m["@id"].(string); ok {
			if len(m) == 1 {
				refs = append(refs, r)
			} else if byID[id] == nil {
				byID[id] = r
			}
		}
		return r
	}
	pg.doc.Find("script").Each(func(_ int, s *goquery.Selection) {
		typ, _ := s.Attr("type")
		if !strings.HasPrefix(strings.ToLower(strings.TrimSpace(typ)), "application/ld+json") {
			return
		}
		text := strings.TrimSpace(s.Text())
		// Some CMSs wrap the block in a comment or CDATA for old browsers.
		text = strings.TrimSuffix(strings.TrimPrefix(text, "<!--"), "-->")
		text = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(text), "//<![CDATA["), "//]]>")
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		var doc any
		if err := dec.Decode(&doc); err != nil {
			return
		}
		var items []any
		switch d := doc.(type) {
		case []any:
			items = d
		case map[string]any:
			items = []any{d}
		}
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			if g, ok := m["@graph"].([]any); ok {
				for _, e := range g {
					if gm, ok := e.(map[string]any); ok {
						tops = append(tops, toRecord(gm))
					}
				}
				if _, typed := m["@type"]; !typed {
					continue
				}
			}
			tops = append(tops, toRecord(m))
		}
	})
	for _, r := range refs {
		id, _ := r.fields["@id"][0].(string)
		if full := byID[id]; full != nil {
			*r = *full
		}
	}
	// A page's mainEntity (or an offer's itemOffered) is as much an entity
	// of the page as a top-level one.
	out := append([]*record(nil), tops...)
	for _, t := range tops {
		for _, k := range []string{"mainentity", "mainentityofpage", "itemoffered", "about"} {
			for _, v := range t.fields[k] {
				if sub, ok := v.(*record); ok && len(sub.types) > 0 {
					out = append(out, sub)
				}
			}
		}
	}
	return out
}

// term strips a vocabulary prefix from a JSON-LD key or type:
// "schema:price" and "https://schema.org/price" are both price.
func term(s string) string {
	if i := strings.LastIndexAny(s, "/#:"); i >= 0 && i+1 < len(s) {
		return s[i+1:]
	}
	return s
}

// microdata returns the page's top-level microdata items (itemscope
// elements that are not themselves a property of another item).
func (pg *page) microdata() []*record {
	var out []*record
	pg.doc.Find("[itemscope]").Each(func(_ int, s *goquery.Selection) {
		n := s.Get(0)
		if _, isProp := attr(n, "itemprop"); isProp && hasItemscopeAncestor(n) {
			return
		}
		out = append(out, pg.microdataItem(n))
	})
	return out
}

func hasItemscopeAncestor(n *html.Node) bool {
	for p := n.Parent; p != nil; p = p.Parent {
		if _, ok := attr(p, "itemscope"); ok && p.Type == html.ElementNode {
			return true
		}
	}
	return false
}

func (pg *page) microdataItem(item *html.Node) *record {
	r := newRecord("microdata")
	if t, ok := attr(item, "itemtype"); ok {
		for _, f := range strings.Fields(t) {
			r.types = append(r.types, norm(term(f)))
		}
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			props, hasProp := attr(c, "itemprop")
			_, scope := attr(c, "itemscope")
			if hasProp {
				var v any
				if scope {
					v = pg.microdataItem(c)
				} else {
					v = pg.elementValue(c)
				}
				for _, p := range strings.Fields(props) {
					r.add(norm(term(p)), v)
				}
			}
			if !scope {
				walk(c)
			}
		}
	}
	walk(item)
	return r
}

// metaKeys maps meta names that do not fold to a schema.org term by
// themselves.
var metaKeys = map[string]string{
	"product:price:amount":     "price",
	"og:price:amount":          "price",
	"product:price:currency":   "pricecurrency",
	"og:price:currency":        "pricecurrency",
	"product:availability":     "availability",
	"og:availability":          "availability",
	"product:retailer_item_id": "sku",
	"product:brand":            "brand",
	"article:published_time":   "datepublished",
	"article:modified_time":    "datemodified",
	"article:author":           "author",
	"article:section":          "articlesection",
	"article:tag":              "keywords",
	"og:site_name":             "publisher",
	"twitter:creator":          "author",
	"og:image:secure_url":      "image",
}

// meta gathers <meta> tags (OpenGraph, product:, twitter:, description…)
// into one record. OpenGraph comes before Twitter and plain tags because
// it is the one sites keep in step with the page.
func (pg *page) meta() *record {
	type kv struct{ k, v string }
	var og, other []kv
	pg.doc.Find("meta").Each(func(_ int, s *goquery.Selection) {
		name, ok := s.Attr("property")
		if !ok {
			name, _ = s.Attr("name")
		}
		name = strings.ToLower(strings.TrimSpace(name))
		content, _ := s.Attr("content")
		if name == "" || strings.TrimSpace(content) == "" {
			return
		}
		key, ok := metaKeys[name]
		if !ok {
			// og:title -> title, twitter:description -> description.
			rest := name
			if i := strings.IndexByte(name, ':'); i >= 0 {
				rest = name[i+1:]
			}
			if strings.Contains(rest, ":") {
				return // og:image:width and the like say nothing we fill.
			}
			key = norm(rest)
		}
		if key == "image" || key == "url" {
			content = pg.abs(content)
		}
		if strings.HasPrefix(name, "og:") || strings.HasPrefix(name, "product:") || strings.HasPrefix(name, "article:") {
			og = append(og, kv{key, content})
		} else {
			other = append(other, kv{key, content})
		}
	})
	r := newRecord("meta")
	for _, e := range append(og, other...) {
		r.add(e.k, e.v)
	}
	return r
}

// basics is what every page has: its main heading, its <title>, its
// address.
func (pg *page) basics() *record {
	r := newRecord("page")
	h1 := pg.doc.Find("main h1, article h1, [role=main] h1").First()
	if h1.Length() == 0 {
		h1 = pg.doc.Find("h1").FilterFunction(func(_ int, s *goquery.Selection) bool { return !boilerplate(s.Get(0)) }).First()
	}
	if h1.Length() > 0 {
		r.add("name", textOf(h1.Get(0)))
	}
	r.add("name", pg.doc.Find("title").First().Text())
	if c, ok := pg.doc.Find(`link[rel="canonical"]`).Attr("href"); ok {
		r.add("url", pg.abs(c))
	}
	if pg.url != nil {
		r.add("url", pg.url.String())
	}
	return r
}

// classRecord reads the page's content (furniture excluded) for elements
// that name what they hold through itemprop, class, id or data-* attributes
// (<span class="price">, <div id="product-description">), first found first.
func (pg *page) classRecord(root *html.Node, source string) *record {
	r := newRecord(source)
	var wordsPass []struct {
		k string
		v string
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipTags[c.Data] {
				continue
			}
			if source == "dom" && (boilerplate(c) || pg.inList[c]) {
				// Furniture and the items of lists (related products, other
				// cards) speak about something else than the page's subject.
				continue
			}
			var v string
			value := func() string {
				if v == "" {
					v = pg.elementValue(c)
				}
				return v
			}
			for _, a := range c.Attr {
				switch {
				case a.Key == "itemprop" || a.Key == "class" || a.Key == "id":
					for _, name := range strings.Fields(a.Val) {
						r.addIfAbsent(norm(name), value())
						if ws := words(name); len(ws) > 1 {
							for _, w := range ws {
								wordsPass = append(wordsPass, struct{ k, v string }{w, value()})
							}
						}
					}
				case strings.HasPrefix(a.Key, "data-") && len(a.Key) > 5:
					r.addIfAbsent(norm(a.Key[5:]), a.Val)
				}
			}
			walk(c)
		}
	}
	if source == "dom" && pg.inList == nil {
		pg.repeated() // marks list items, which the walk below leaves out
	}
	walk(root)
	for _, e := range wordsPass {
		r.addIfAbsent(e.k, e.v)
	}
	return r
}

// bodyNode is the page's <body> (or the whole document when there is none).
func (pg *page) bodyNode() *html.Node {
	if b := pg.doc.Find("body").First(); b.Length() > 0 {
		return b.Get(0)
	}
	return pg.doc.Get(0)
}

// readableText is the page's main text as plain text; bytes.Buffer keeps
// the readability dependency in one file (markdown.go).
func (pg *page) readable() *record {
	r := newRecord("readable")
	art, err := pg.article()
	if err != nil || art.Node == nil {
		return r
	}
	var buf bytes.Buffer
	if art.RenderText(&buf) == nil {
		r.add("articlebody", buf.String())
	}
	// Not the excerpt: without a declared description it is whatever
	// paragraph came first, which is not a description of anything.
	r.add("author", art.Byline())
	return r
}
