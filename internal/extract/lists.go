package extract

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/PuerkitoBio/goquery"
	"github.com/errandhq/errand/internal/output"
	"golang.org/x/net/html"
)

// list is a run of like things on a page: the members of a JSON-LD
// ItemList, microdata items of one type, the rows of a table, the cards of
// a product grid.
type list struct {
	source string // "json-ld", "microdata", "table", "definitions", "dom"
	items  []*record
	// soft lists are about other things than the page's subject (related
	// products, recommendations): offered only after the main content's.
	soft bool
}

// filledList is a list filled against an item schema.
type filledList struct {
	source  string
	soft    bool
	objects []any // the items that have every required property
	matched int   // properties filled in at least half of the items
	size    int
}

// Source ranks for breaking ties between lists that fill as many
// properties: declared data first for JSON answers; the table first for CSV,
// since a CSV request usually points at one.
var (
	jsonRank = map[string]int{"json-ld": 4, "microdata": 3, "table": 2, "definitions": 2, "dom": 1}
	csvRank  = map[string]int{"table": 4, "definitions": 4, "json-ld": 3, "microdata": 2, "dom": 1}
)

// bestList fills item from every list on the page and keeps the one that
// fills the most properties, then by source rank, then the longest. It is
// nil when no list has an item with every required property.
func (f *filler) bestList(item *output.Node, rank map[string]int) *filledList {
	var best *filledList
	for _, l := range f.lists() {
		fl := &filledList{source: l.source, soft: l.soft, size: len(l.items)}
		counts := map[string]int{}
		for _, rec := range l.items {
			obj, miss := f.fillObject(item, []*record{rec}, false, "")
			for k := range obj {
				counts[k]++
			}
			if len(miss) == 0 && len(obj) > 0 {
				fl.objects = append(fl.objects, obj)
			}
		}
		if len(fl.objects) == 0 {
			continue
		}
		for _, c := range counts {
			if 2*c >= len(l.items) {
				fl.matched++
			}
		}
		if best == nil || better(fl, best, rank) {
			best = fl
		}
	}
	return best
}

func better(a, b *filledList, rank map[string]int) bool {
	if a.soft != b.soft {
		return !a.soft
	}
	if a.matched != b.matched {
		return a.matched > b.matched
	}
	if rank[a.source] != rank[b.source] {
		return rank[a.source] > rank[b.source]
	}
	return len(a.objects) > len(b.objects)
}

func (f *filler) lists() []list {
	if !f.listsDone {
		f.listsDone = true
		pg := f.pg
		f.listCache = append(f.listCache, pg.declaredLists("json-ld", pg.jsonLD())...)
		f.listCache = append(f.listCache, pg.declaredLists("microdata", pg.microdata())...)
		f.listCache = append(f.listCache, pg.tables()...)
		f.listCache = append(f.listCache, pg.definitionLists()...)
		f.listCache = append(f.listCache, pg.repeated()...)
	}
	return f.listCache
}

// declaredLists finds lists in structured data: several top-level entities
// of one type, and any property holding several records (an ItemList's
// itemListElement, a product's reviews), ListItem wrappers unwrapped.
func (pg *page) declaredLists(source string, tops []*record) []list {
	var out []list
	soft := func(recs []*record) bool { return pg.inBlockAboutOthers(recs[0].node) }
	byType := map[string][]*record{}
	var order []string
	for _, r := range tops {
		if len(r.types) == 0 {
			continue
		}
		t := r.types[0]
		if byType[t] == nil {
			order = append(order, t)
		}
		byType[t] = append(byType[t], r)
	}
	for _, t := range order {
		if len(byType[t]) >= 2 {
			out = append(out, list{source: source, items: byType[t], soft: soft(byType[t])})
		}
	}
	seen := map[*record]bool{}
	var walk func(r *record, depth int)
	walk = func(r *record, depth int) {
		if seen[r] || depth > 4 {
			return
		}
		seen[r] = true
		for _, vs := range r.fields {
			var recs []*record
			for _, v := range vs {
				if sub, ok := v.(*record); ok {
					recs = append(recs, unwrapListItem(sub))
					walk(sub, depth+1)
				}
			}
			if len(recs) >= 2 {
				out = append(out, list{source: source, items: recs, soft: soft([]*record{r})})
			}
		}
	}
	for _, r := range tops {
		walk(r, 0)
	}
	return out
}

// unwrapListItem returns the thing a schema.org ListItem points at, its
// position and any name it carries kept where the thing has none.
func unwrapListItem(r *record) *record {
	if !r.isType("listitem") {
		return r
	}
	for _, v := range r.fields["item"] {
		if it, ok := v.(*record); ok {
			for k, vs := range r.fields {
				if k != "item" && len(it.fields[k]) == 0 {
					it.fields[k] = vs
				}
			}
			return it
		}
	}
	return r
}

// tables reads every data table: one record per body row, keyed by the
// header cell above each column.
func (pg *page) tables() []list {
	var out []list
	pg.doc.Find("table").Each(func(_ int, t *goquery.Selection) {
		k := pg.furnitureOf(t.Get(0))
		if k == furnHard || pg.unseen(t.Get(0)) {
			return
		}
		if _, ok := pg.tablePairs(t.Get(0), true); ok {
			return // rows of labels and values: read by definitionLists
		}
		rows := t.ChildrenFiltered("thead, tbody, tfoot").ChildrenFiltered("tr").AddSelection(t.ChildrenFiltered("tr"))
		var header []string
		var body []*html.Node
		rows.Each(func(i int, tr *goquery.Selection) {
			cells := tr.ChildrenFiltered("th, td")
			allTH := cells.Length() > 0 && cells.Length() == tr.ChildrenFiltered("th").Length()
			inHead := goquery.NodeName(tr.Parent()) == "thead"
			if header == nil && (allTH || inHead) {
				cells.Each(func(_ int, c *goquery.Selection) {
					// A header cell spanning columns names each of them.
					span := 1
					if v, ok := attr(c.Get(0), "colspan"); ok {
						if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 1 && n <= 20 {
							span = n
						}
					}
					for range span {
						header = append(header, pg.valueText(c.Get(0)))
					}
				})
				return
			}
			body = append(body, tr.Get(0))
		})
		// A table without header cells usually spells its header in its
		// first row.
		if header == nil && len(body) >= 2 {
			for c := body[0].FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
					header = append(header, pg.valueText(c))
				}
			}
			body = body[1:]
		}
		if len(header) == 0 || len(body) == 0 {
			return
		}
		l := list{source: "table", soft: k == furnSoft}
		for _, tr := range body {
			if pg.hidden(tr) {
				continue
			}
			r := newRecord("table")
			r.independent = true
			var cells []*html.Node
			for c := tr.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
					cells = append(cells, c)
				}
			}
			for i, c := range cells {
				if i < len(header) {
					r.add(norm(header[i]), pg.valueText(c))
				}
			}
			// Words of a header ("Unit price (USD)") are weaker, so a
			// column named exactly wins over one that merely mentions it.
			for i, c := range cells {
				if i < len(header) {
					for _, w := range words(header[i]) {
						if len(r.fields[w]) == 0 {
							r.weaker().add(w, pg.valueText(c))
						}
					}
				}
			}
			pg.itemFallbacks(r, tr)
			if len(r.fields) > 0 {
				l.items = append(l.items, r)
			}
		}
		if len(l.items) > 0 {
			out = append(out, l)
		}
	})
	return out
}

// repeated finds runs of sibling elements built alike (same tag, same
// first class): the cards of a product grid, the rows of a results list.
func (pg *page) repeated() []list {
	if pg.inList != nil {
		return pg.lists
	}
	pg.inList = map[*html.Node]bool{}
	var out []list
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		groups := map[string][]*html.Node{}
		var order []string
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipTags[c.Data] {
				continue
			}
			walk(c)
			switch c.Data {
			case "tr", "td", "th", "thead", "tbody", "option", "br", "hr", "meta", "link", "input":
				continue // tables are read as tables; the rest hold no items
			}
			sig := signature(c)
			if groups[sig] == nil {
				order = append(order, sig)
			}
			groups[sig] = append(groups[sig], c)
		}
		for _, sig := range order {
			members := groups[sig]
			if len(members) < 2 {
				continue
			}
			k := pg.furnitureOf(members[0])
			if k == furnHard {
				continue
			}
			l := list{source: "dom", soft: k == furnSoft}
			cards := 0
			for _, m := range members {
				if pg.hidden(m) || pg.notAnItem(m) {
					continue
				}
				r := pg.classRecord(m, "dom-item")
				for _, a := range m.Attr {
					if strings.HasPrefix(a.Key, "data-") && len(a.Key) > 5 {
						r.add(norm(a.Key[5:]), a.Val)
					}
				}
				pg.itemFallbacks(r, m)
				if n := len(r.fields) + len(r.weaker().fields); n > 0 {
					l.items = append(l.items, r)
					if n >= 2 {
						cards++
					}
				}
			}
			if len(l.items) >= 2 {
				out = append(out, l)
				// Only runs of things (cards with a name and a price, say)
				// are other things than the page's subject; two layout
				// columns or two paragraphs are not.
				if cards >= 2 {
					for _, m := range members {
						if hasElementChild(m) {
							pg.inList[m] = true
						}
					}
				}
			}
		}
	}
	walk(pg.bodyNode())
	pg.lists = out
	return out
}

// signature is what members of a run share: tag and first class, or for
// elements without a class their id (two ids name two different things)
// or the tags of their children, so that two unclassed layout <div>s are
// not taken for two cards.
func signature(n *html.Node) string {
	if cl, ok := attr(n, "class"); ok {
		if fs := strings.Fields(cl); len(fs) > 0 {
			return n.Data + "." + fs[0]
		}
	}
	if id, ok := attr(n, "id"); ok && strings.TrimSpace(id) != "" {
		return n.Data + "#" + id
	}
	var b strings.Builder
	b.WriteString(n.Data + ">")
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			b.WriteString(c.Data + ",")
		}
	}
	return b.String()
}

// hasElementChild tells an item (a card with a name and a price) from a
// plain run of paragraphs, which is content, not a list of things.
func hasElementChild(n *html.Node) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data != "br" {
			return true
		}
	}
	return false
}

var priceTextRe = regexp.MustCompile(`(?i)([$€£¥₹]\s?\d[\d.,\s]*\d|\d[\d.,\s]*\d?\s?(€|£|\b(usd|eur|gbp|chf|jpy|cad|aud)\b))`)

// itemFallbacks adds, as weak findings, what an item shows without naming
// it: its heading (or first link text) as its name, its first link and
// image, its <time>, and a price written with a currency (not a struck or
// "was" one). Named fields always come first.
func (pg *page) itemFallbacks(r *record, n *html.Node) {
	var heading, linkText, href, img, price, date string
	var walk func(c *html.Node)
	walk = func(c *html.Node) {
		for ; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode && price == "" {
				if strings.ContainsAny(c.Data, "0123456789") {
					t := notTheValue.ReplaceAllString(c.Data, " ")
					if m := priceTextRe.FindString(t); m != "" {
						price = m
					}
				}
			}
			if c.Type != html.ElementNode || skipTags[c.Data] || pg.hidden(c) || pg.former(c) || pg.saving(c) {
				continue
			}
			switch c.Data {
			case "h1", "h2", "h3", "h4", "h5", "h6":
				if heading == "" {
					heading = pg.valueText(c)
				}
			case "time":
				if date == "" {
					date = pg.elementValue(c)
				}
			case "a":
				if v, ok := attr(c, "href"); ok && href == "" && pg.abs(v) != "" {
					href = pg.abs(v)
					linkText = pg.valueText(c)
				}
			case "img":
				if v, ok := attr(c, "src"); ok && img == "" {
					img = pg.abs(v)
				}
			}
			walk(c.FirstChild)
		}
	}
	walk(n.FirstChild)
	if heading == "" {
		heading = linkText
	}
	w := r.weaker()
	for _, kv := range [][2]string{{"name", heading}, {"url", href}, {"image", img}, {"price", price}, {"date", date}} {
		if len(r.fields[kv[0]]) == 0 && len(w.fields[kv[0]]) == 0 {
			w.add(kv[0], kv[1])
		}
	}
}
