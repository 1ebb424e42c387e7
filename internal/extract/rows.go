package extract

import (
	"regexp"
	"strings"

	"golang.org/x/net/html"
)

// Pages write facts as rows of a label and a value: a <dl>, a two-column
// table whose first column names the rows, "Label: value" lines, a pair of
// elements classed label and value, a heading over a list. rows reads them
// as a record of the page's subject; definitionLists reads <dl>s and
// two-column tables as lists of term and definition, for a glossary asked
// as CSV.

// rows reads the label–value rows of the main content: a value filed
// under its label folded whole (rank 2, "Article number" -> articlenumber)
// and under the label's last word (weak, "Download size" -> size).
func (pg *page) rows() *record {
	r := newRecord("rows")
	r.independent = true
	w := r.weaker()
	put := func(label string, v any) {
		label = strings.TrimSpace(strings.TrimRight(clean(label), ":："))
		if label == "" || len(label) > 60 || len(strings.Fields(label)) > 6 {
			return
		}
		if s, ok := v.(string); ok && clean(s) == "" {
			return
		}
		r.add(norm(label), v)
		if ws := words(label); len(ws) > 1 {
			w.add(ws[len(ws)-1], v)
		}
	}
	pg.eachElement(func(n *html.Node) {
		if pg.furnitureOf(n) != furnNone {
			return
		}
		switch n.Data {
		case "dl":
			for _, p := range pg.dlPairs(n) {
				put(p.term, p.def)
			}
			return
		case "table":
			if pairs, ok := pg.tablePairs(n, true); ok {
				for _, p := range pairs {
					put(p.term, p.def)
				}
			}
			return
		case "h1", "h2", "h3", "h4", "h5", "h6":
			// A heading over a list: "Ingredients" then a <ul>.
			if next := nextElement(n); next != nil {
				if l := pg.listItems(next); l != nil && (next.Data == "ul" || next.Data == "ol") {
					put(textOf(n), l)
				}
			}
			return
		}
		// A pair of elements, the first naming the second.
		if first, second := twoChildren(n); first != nil && (pg.labelLike(first) || pg.pairRun(n)) {
			if l := pg.listItems(second); l != nil {
				put(textOf(first), l)
			} else {
				put(textOf(first), pg.valueText(second))
			}
			return
		}
		// "Label: value" lines of an innermost block, and inline elements
		// that are one such pair inside a longer line ("SKU: X Category: Y").
		lines := []string(nil)
		switch {
		case blockTags[n.Data] && !hasBlockChild(n):
			lines = pg.blockLines(n)
		case !blockTags[n.Data] && n.Parent != nil && colonNear(n):
			lines = []string{pg.valueText(n)}
		}
		for _, line := range lines {
			if m := labelLine.FindStringSubmatch(line); m != nil && !secondLabel.MatchString(m[2]) {
				put(m[1], m[2])
			}
		}
	})
	return r
}

var (
	// labelLine is "Label: value", the label short and starting with a letter.
	labelLine = regexp.MustCompile(`^(\p{L}[\p{L}\p{M} .'/&()\-]{0,40}?)\s*[:：]\s+(\S.*)$`)
	// secondLabel finds another "Label:" inside a value: the line holds
	// several pairs, and where the first value ends is a guess.
	secondLabel = regexp.MustCompile(`\s\p{Lu}[\p{L}\p{M} .'/&\-]{0,30}[:：]\s`)
)

// colonNear is a cheap test for a label inside an inline element: a colon
// in its own text or in its first child's ("SKU: …", "<b>Author:</b> …").
func colonNear(n *html.Node) bool {
	for i, c := 0, n.FirstChild; c != nil && i < 3; c, i = c.NextSibling, i+1 {
		switch c.Type {
		case html.TextNode:
			if strings.ContainsAny(c.Data, ":：") {
				return true
			}
		case html.ElementNode:
			if t := c.FirstChild; t != nil && t.Type == html.TextNode && strings.ContainsAny(t.Data, ":：") {
				return true
			}
		}
	}
	return false
}

// pair is one term and its definition.
type pair struct {
	term, def string
}

// dlPairs reads a <dl>: each <dt> with the <dd>s after it (several joined),
// through the <div>s HTML allows around a group.
func (pg *page) dlPairs(dl *html.Node) []pair {
	var out []pair
	var terms []string
	var defs []string
	flush := func() {
		if len(terms) > 0 && len(defs) > 0 {
			for _, t := range terms {
				out = append(out, pair{t, strings.Join(defs, "; ")})
			}
		}
		terms, defs = nil, nil
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || pg.hidden(c) {
				continue
			}
			switch c.Data {
			case "dt":
				if len(defs) > 0 {
					flush()
				}
				terms = append(terms, pg.valueText(c))
			case "dd":
				if t := pg.valueText(c); t != "" {
					defs = append(defs, t)
				}
			case "div":
				walk(c)
			}
		}
	}
	walk(dl)
	flush()
	return out
}

// tablePairs reads a table whose rows are a label and a value: every row
// two cells, the first a row header (<th>), or, unless strict, with no
// header cells at all, two plain cells in at least two rows (which may as
// well be a data table whose first row names its columns).
func (pg *page) tablePairs(t *html.Node, strict bool) ([]pair, bool) {
	var out []pair
	ths, rows := 0, 0
	ok := true
	pg.eachRow(t, func(tr *html.Node) {
		cells := cellsOf(tr)
		if len(cells) != 2 {
			ok = false
			return
		}
		rows++
		if cells[1].Data == "th" {
			ok = false // a header row: a data table
			return
		}
		if cells[0].Data == "th" {
			ths++
		}
		out = append(out, pair{pg.valueText(cells[0]), pg.valueText(cells[1])})
	})
	if !ok || rows == 0 || (ths != rows && (strict || ths != 0 || rows < 2)) {
		return nil, false
	}
	return out, true
}

// eachRow calls fn for a table's own rows (not those of nested tables).
func (pg *page) eachRow(t *html.Node, fn func(tr *html.Node)) {
	for c := t.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode || pg.hidden(c) {
			continue
		}
		switch c.Data {
		case "tr":
			fn(c)
		case "thead", "tbody", "tfoot":
			pg.eachRow(c, fn)
		}
	}
}

func cellsOf(tr *html.Node) []*html.Node {
	var out []*html.Node
	for c := tr.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && (c.Data == "td" || c.Data == "th") {
			out = append(out, c)
		}
	}
	return out
}

// definitionLists reads the page's <dl>s and label–value tables as lists
// of records with a term (also a name) and a definition (also a
// description, an answer).
func (pg *page) definitionLists() []list {
	var out []list
	pg.eachElement(func(n *html.Node) {
		var pairs []pair
		switch n.Data {
		case "dl":
			pairs = pg.dlPairs(n)
		case "table":
			pairs, _ = pg.tablePairs(n, false)
		default:
			return
		}
		if len(pairs) < 2 || pg.furnitureOf(n) == furnHard {
			return
		}
		l := list{source: "definitions", soft: pg.furnitureOf(n) == furnSoft}
		for _, p := range pairs {
			r := newRecord("definitions")
			r.independent = true
			r.add("term", p.term)
			r.add("definition", p.def)
			wk := r.weaker()
			wk.add("name", p.term)
			wk.add("description", p.def)
			l.items = append(l.items, r)
		}
		out = append(out, l)
	})
	return out
}

// pairRun reports whether n is one of a run of like siblings (three or
// more) that each hold two short texts, a label and a value: a grid of
// rows written with plain <div>s. Worked out once per parent.
func (pg *page) pairRun(n *html.Node) bool {
	if n.Parent == nil {
		return false
	}
	runs, ok := pg.pairRuns[n.Parent]
	if !ok {
		counts := map[string]int{}
		broken := map[string]bool{}
		for c := n.Parent.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			sig := signature(c)
			first, second := twoChildren(c)
			if first == nil || hasBlockChild(first) || hasBlockChild(second) || len(textOf(first)) > 40 || strings.ContainsAny(textOf(first), "0123456789") {
				broken[sig] = true
				continue
			}
			counts[sig]++
		}
		runs = map[string]bool{}
		for sig, c := range counts {
			runs[sig] = c >= 3 && !broken[sig]
		}
		if pg.pairRuns == nil {
			pg.pairRuns = map[*html.Node]map[string]bool{}
		}
		pg.pairRuns[n.Parent] = runs
	}
	return runs[signature(n)]
}

// twoChildren returns n's two element children when it has exactly two
// and no text of its own.
func twoChildren(n *html.Node) (first, second *html.Node) {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		switch {
		case c.Type == html.TextNode && strings.TrimSpace(c.Data) != "":
			return nil, nil
		case c.Type != html.ElementNode:
		case first == nil:
			first = c
		case second == nil:
			second = c
		default:
			return nil, nil
		}
	}
	if second == nil {
		return nil, nil
	}
	return first, second
}

// labelLike is an element that names the one beside it: a <dt>, <th> or
// <label>, or one classed label, key, term or name.
func (pg *page) labelLike(n *html.Node) bool {
	switch n.Data {
	case "dt", "th", "label":
		return true
	}
	ws := pg.facts(n).words
	return anyIn(set("label", "key", "term", "property", "attr", "attribute"), ws) && len(textOf(n)) <= 60
}

func nextElement(n *html.Node) *html.Node {
	for c := n.NextSibling; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			return c
		}
		if c.Type == html.TextNode && strings.TrimSpace(c.Data) != "" {
			return nil
		}
	}
	return nil
}

// blockLines is an innermost block's visible text split at <br>.
func (pg *page) blockLines(n *html.Node) []string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				b.WriteString(c.Data)
			case c.Type != html.ElementNode || skipTags[c.Data] || pg.hidden(c) || pg.former(c):
			case c.Data == "br":
				b.WriteByte('\n')
			default:
				walk(c)
			}
		}
	}
	walk(n)
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		if l = clean(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// cues reads what the main text says in a recognisable form without naming
// it: the date of a <time>, a stock line "In stock", a rating "4.6 out of 5
// stars" and a count of ratings, the town in a company line "Acme · Berlin · Hybrid". The items
// of lists (reviews with their own ratings) are left out.
func (pg *page) cues() *record {
	r := newRecord("cues")
	r.rank = 1
	r.independent = true
	if pg.inList == nil {
		pg.repeated()
	}
	inItem := func(n *html.Node) bool {
		for p := n; p != nil; p = p.Parent {
			if pg.inList[p] {
				return true
			}
		}
		return false
	}
	pg.eachElement(func(n *html.Node) {
		if pg.furnitureOf(n) != furnNone || inItem(n) {
			return
		}
		if n.Data == "time" {
			r.add("date", pg.elementValue(n))
		}
		ws := pg.facts(n).words
		if anyIn(set("company", "employer", "hiring", "organization", "organisation"), ws) {
			parts := segmentSep.Split(pg.valueText(n), -1)
			if len(parts) > 1 && !workMode.MatchString(parts[1]) {
				r.add("location", parts[1])
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.TextNode {
				continue
			}
			if stockText.MatchString(c.Data) {
				r.add("availability", clean(c.Data))
			}
			if m := ratingText.FindStringSubmatch(c.Data); m != nil {
				r.add("ratingvalue", m[1])
			}
			if m := countText.FindStringSubmatch(c.Data); m != nil {
				r.add("reviewcount", m[1])
			}
		}
	})
	return r
}

var (
	// stockText is a stock line on its own: "In stock", "Only 3 left in
	// stock", "Sold out".
	stockText  = regexp.MustCompile(`(?i)^\s*(only \d+ left )?(in stock|out of stock|sold out|auf lager|ausverkauft|en stock|rupture de stock|épuisé|op voorraad|uitverkocht|disponibile|esaurito|agotado)\b[^.]{0,40}$`)
	ratingText = regexp.MustCompile(`(?i)^\s*(\d(?:[.,]\d{1,2})?)\s*(?:out of|of|/|von|sur|su)\s*5(?:\s*stars?|\s*sterne|\s*étoiles)?\s*$`)
	countText  = regexp.MustCompile(`(?i)^\s*\(?(\d[\d.,]*)\s+(?:ratings?|reviews?|customer reviews|global ratings|bewertungen|rezensionen|avis|recensioni|valoraciones|reseñas)\)?\s*$`)
	workMode   = regexp.MustCompile(`(?i)^(remote|hybrid|on-?site|in-?office|full-?time|part-?time|contract|temporary|internship|freelance|cdi|cdd|temps (plein|partiel)|vollzeit|teilzeit|homeoffice|home office)$`)
)
