package extract

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	if pg.ldDone {
		return pg.ld
	}
	pg.ldDone = true
	pg.ld = pg.readJSONLD()
	return pg.ld
}

func (pg *page) readJSONLD() []*record {
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
		// An AggregateOffer's lowPrice is its price only when it is not the
		// bottom of a range.
		if low := r.fields["lowprice"]; len(r.fields["price"]) == 0 && len(low) > 0 {
			high := r.fields["highprice"]
			if len(high) == 0 || fmt.Sprint(high[0]) == fmt.Sprint(low[0]) {
				r.fields["price"] = low
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
						r := toRecord(gm)
						r.node = s.Get(0)
						tops = append(tops, r)
					}
				}
				if _, typed := m["@type"]; !typed {
					continue
				}
			}
			r := toRecord(m)
			r.node = s.Get(0)
			tops = append(tops, r)
		}
	})
	for _, r := range refs {
		id, _ := r.fields["@id"][0].(string)
		if full := byID[id]; full != nil {
			node := r.node
			*r = *full
			r.node = node
		}
	}
	// A page's mainEntity (or an offer's itemOffered) is as much an entity
	// of the page as a top-level one.
	out := append([]*record(nil), tops...)
	for _, t := range tops {
		for _, k := range []string{"mainentity", "mainentityofpage", "itemoffered", "about"} {
			for _, v := range t.fields[k] {
				if sub, ok := v.(*record); ok && len(sub.types) > 0 {
					sub.node = t.node
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
	r.node = item
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
	r.rank = 1
	for i, e := range append(og, other...) {
		if e.k == "title" {
			// og:title and twitter:title are often the site's name, or
			// "Headline | Site".
			t, ok := pg.cleanTitle(e.v)
			if !ok {
				continue
			}
			e.v = t
		}
		if e.k == "description" && i >= len(og) {
			// A plain meta description is written for search results
			// ("Shop the X at Y. Free delivery…"): below the page's own.
			r.weaker().add(e.k, e.v)
			r.weak.rank = -1 // after any visible description
			continue
		}
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
		h1 = pg.doc.Find("h1").FilterFunction(func(_ int, s *goquery.Selection) bool { return !pg.boilerplate(s.Get(0)) }).First()
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

// headings is the page's main heading as a candidate for its name, the
// clearest there is: the <h1>s of the main content (or, without one, of the
// page outside its furniture), each its own finding.
func (pg *page) headings() *record {
	r := newRecord("heading")
	r.rank = 3
	r.independent = true
	var inMain, outside []string
	pg.doc.Find("h1").Each(func(_ int, s *goquery.Selection) {
		n := s.Get(0)
		if pg.boilerplate(n) || pg.unseen(n) {
			return
		}
		t := pg.valueText(n)
		if hasAncestor(n, "main", "article") {
			inMain = append(inMain, t)
		} else {
			outside = append(outside, t)
		}
	})
	if len(inMain) == 0 {
		inMain = outside
	}
	for _, t := range inMain {
		r.add("name", t)
	}
	return r
}

// titles is what the document's head says about the page: its <title>
// without the site's name, its canonical address, its address.
func (pg *page) titles() *record {
	r := newRecord("title")
	r.rank = 1
	if t, ok := pg.cleanTitle(pg.doc.Find("title").First().Text()); ok {
		r.add("name", t)
	}
	if c, ok := pg.doc.Find(`link[rel="canonical"]`).Attr("href"); ok {
		r.add("url", pg.abs(c))
	}
	if pg.url != nil {
		r.add("url", pg.url.String())
	}
	return r
}

// classRecord reads the elements under root that name what they hold
// through itemprop, class, id or data-* attributes (<span class="price">,
// <div id="product-description">), each a finding of its own: names that
// fold to a field's name whole in the record, their words (card__price ->
// price) in its weak record. For the page's subject (source "dom"),
// furniture, other things' blocks and the items of lists are left out; for
// every source, hidden elements and struck-through values are.
func (pg *page) classRecord(root *html.Node, source string) *record {
	r := newRecord(source)
	r.independent = true
	w := r.weaker()  // the last word of a class name, X of "X-name"
	ww := w.weaker() // its other words, often a namespace ("plan" of plan-price)
	if source == "dom" && pg.inList == nil {
		pg.repeated() // marks list items, which the walk below leaves out
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipTags[c.Data] || pg.hidden(c) || pg.former(c) {
				continue
			}
			if source == "dom" && (pg.boilerplate(c) || pg.inList[c]) {
				continue
			}
			var v any
			value := func() any {
				if v == nil {
					v = pg.namedValue(c)
				}
				return v
			}
			for _, a := range c.Attr {
				switch {
				case a.Key == "itemprop":
					for _, name := range strings.Fields(a.Val) {
						r.add(norm(term(name)), value())
					}
				case a.Key == "class" || a.Key == "id":
					for _, name := range strings.Fields(a.Val) {
						if k := norm(name); layoutNames[k] {
							w.add(k, value())
						} else {
							r.add(k, value())
						}
						ws := pg.words(name)
						if len(ws) < 2 {
							continue
						}
						last := ws[len(ws)-1]
						w.add(last, value())
						if last == "name" || last == "title" {
							w.add(norm(strings.Join(ws[:len(ws)-1], "")), value())
						}
						for _, wd := range ws[:len(ws)-1] {
							ww.add(wd, value())
						}
					}
				case a.Key == "rel" && a.Val == "author":
					r.add("author", pg.valueText(c))
				case strings.HasPrefix(a.Key, "data-") && len(a.Key) > 5:
					r.add(norm(a.Key[5:]), a.Val)
				}
			}
			walk(c)
		}
	}
	walk(root)
	return r
}

// words is words(name), remembered: the same class names recur on every
// card of a list.
func (pg *page) words(name string) []string {
	if ws, ok := pg.wordCache[name]; ok {
		return ws
	}
	if pg.wordCache == nil {
		pg.wordCache = map[string][]string{}
	}
	ws := words(name)
	pg.wordCache[name] = ws
	return ws
}

// link is a link found as a value: its text answers a name, its address a
// link.
type link struct{ text, href string }

// namedValue is what an element named by its class holds: a list's items,
// a link's text and address, or its value by the microdata rules.
func (pg *page) namedValue(n *html.Node) any {
	if l := pg.listItems(n); l != nil {
		return l
	}
	if n.Data == "a" {
		if _, ok := attr(n, "content"); !ok {
			href, _ := attr(n, "href")
			return link{text: pg.valueText(n), href: pg.abs(href)}
		}
	}
	if h := firstHeading(n); h != nil && nextElement(h) != nil {
		// <div class="panel--description"><h2>Description</h2><p>…: the
		// heading titles the value and is not part of it.
		var b strings.Builder
		for c := h.NextSibling; c != nil; c = c.NextSibling {
			switch c.Type {
			case html.TextNode:
				b.WriteString(c.Data)
			case html.ElementNode:
				b.WriteString(" " + pg.valueText(c) + " ")
			}
		}
		return clean(b.String())
	}
	return pg.elementValue(n)
}

// layoutNames are class names that frameworks give to containers: as a
// whole class name they say little about what the element holds
// (<div class="summary"> wraps a product's whole buy box), so they count
// as weak findings only.
var layoutNames = set("product", "item", "content", "text", "body", "summary", "section", "source", "link", "main", "style", "image", "photo", "picture")

// listItems reads a list element as a value: the items of a <ul> or <ol>,
// or of the one list a block holds under its title ("In the box" over a
// <ul>). Items that only title the list ("Key features", "Tagged:") are
// not among them. It is nil for anything else.
func (pg *page) listItems(n *html.Node) items {
	var list *html.Node
	switch n.Data {
	case "ul", "ol":
		list = n
	case "div", "section", "span", "p":
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode && strings.TrimSpace(c.Data) != "" {
				return nil
			}
			if c.Type != html.ElementNode || pg.hidden(c) {
				continue
			}
			switch {
			case c.Data == "ul" || c.Data == "ol":
				if list != nil {
					return nil
				}
				list = c
			case list == nil && pg.titleLike(c):
			default:
				return nil
			}
		}
	}
	if list == nil {
		return nil
	}
	var out items
	for c := list.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || c.Data != "li" || pg.hidden(c) || pg.former(c) {
			continue
		}
		if len(out) == 0 && pg.titleLike(c) {
			continue
		}
		if t := pg.valueText(c); t != "" {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// titleLike reports whether n titles what follows rather than being one of
// the things listed: a heading, an element that holds only a heading or
// bold text, text ending in a colon, or a class naming it a title or label.
func (pg *page) titleLike(n *html.Node) bool {
	switch n.Data {
	case "h1", "h2", "h3", "h4", "h5", "h6", "legend", "caption":
		return true
	}
	if strings.HasSuffix(textOf(n), ":") {
		return true
	}
	ws := pg.facts(n).words
	if anyIn(set("title", "label", "heading", "header", "caption", "headline"), ws) {
		return true
	}
	// <li><strong>Key features</strong></li>
	var only *html.Node
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.TextNode && strings.TrimSpace(c.Data) != "" {
			return false
		}
		if c.Type == html.ElementNode {
			if only != nil {
				return false
			}
			only = c
		}
	}
	if only == nil {
		return false
	}
	switch only.Data {
	case "h1", "h2", "h3", "h4", "h5", "h6", "strong", "b":
		return true
	}
	return false
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
	r.rank = 1
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
