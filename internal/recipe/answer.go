package recipe

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Text is one element of a page snapshot that holds text of its own.
type Text struct {
	// Path locates the element from <body>: tag and position among the
	// siblings of that tag, "main:1/ul:1/li:3/span:1".
	Path string `json:"p"`
	// Text is its visible text, spaces collapsed, cut to 1000 characters.
	Text string `json:"t"`
}

// Snapshot is the text of a page at one point of a run (point n: after
// the n-th recorded step).
type Snapshot struct {
	Point int
	Texts []Text
}

// Node is how one part of the answer is read off the pages: a tree of the
// answer's shape whose leaves name the element and the part of its text
// that gave the value, and whose lists name the repeated elements (rows)
// that gave their items.
type Node struct {
	// Kind is object, array, string, number, null, or empty (the
	// constant "").
	Kind string `json:"kind"`
	// Keys and Fields are an object's members, in the same order.
	Keys   []string `json:"keys,omitempty"`
	Fields []*Node  `json:"fields,omitempty"`
	// From is a string's or number's source.
	From *Source `json:"from,omitempty"`
	// Rows is an array's source.
	Rows *Rows `json:"rows,omitempty"`
}

// Source is the source of one value: an element, and the words around the
// value in its text.
type Source struct {
	// Point is the page state the value is read at (unused inside Rows:
	// the rows' points count).
	Point int `json:"point"`
	// Path is the element's path, relative to the row inside Rows.
	Path string `json:"path"`
	// Before and After are the words next to the value in the element's
	// text ("Order number:" before "A-1234"); AtStart and AtEnd mark a
	// value at the edge of the text.
	Before  string `json:"before,omitempty"`
	After   string `json:"after,omitempty"`
	AtStart bool   `json:"atStart,omitempty"`
	AtEnd   bool   `json:"atEnd,omitempty"`
}

// Rows is the source of a list: the repeated elements (a table's rows, a
// list's items) at each point the list was read at, in order — a list
// read across the pages of a paginated listing has one point per page.
type Rows struct {
	Points []int `json:"points"`
	// Pattern is the rows' path, the segment that tells rows apart
	// written with "*": "main:1/table:1/tbody:1/tr:*".
	Pattern string `json:"pattern"`
	// Item reads one item, its paths relative to the row.
	Item *Node `json:"item"`
}

// Points lists the page states the answer is read at, in order.
func (n *Node) Points() []int {
	var pts []int
	var walk func(n *Node)
	walk = func(n *Node) {
		switch {
		case n == nil:
		case n.From != nil:
			pts = append(pts, n.From.Point)
		case n.Rows != nil:
			pts = append(pts, n.Rows.Points...)
		default:
			for _, f := range n.Fields {
				walk(f)
			}
		}
	}
	walk(n)
	slices.Sort(pts)
	return slices.Compact(pts)
}

// Read reads the answer off the pages: snaps holds a snapshot for each of
// the node's Points. A value that cannot be read (its element is gone,
// its words changed) is an error naming it by JSON pointer: the answer is
// never guessed.
func (n *Node) Read(snaps map[int]Snapshot) (any, error) {
	return n.read(snaps, nil, "")
}

// row is the snapshot and path prefix a read inside Rows is relative to.
type row struct {
	snap   *page
	prefix string
}

func (n *Node) read(snaps map[int]Snapshot, in *row, ptr string) (any, error) {
	switch n.Kind {
	case "null":
		return nil, nil
	case "empty":
		return "", nil
	case "object":
		obj := make(map[string]any, len(n.Keys))
		for i, k := range n.Keys {
			v, err := n.Fields[i].read(snaps, in, ptr+"/"+escapePointer(k))
			if err != nil {
				return nil, err
			}
			obj[k] = v
		}
		return obj, nil
	case "array":
		if n.Rows == nil || in != nil {
			return nil, fmt.Errorf("%s: a list inside a list cannot be read", orRoot(ptr))
		}
		return n.Rows.read(snaps, ptr)
	case "string", "number":
		if n.From == nil {
			return nil, fmt.Errorf("%s: no source", orRoot(ptr))
		}
		if in != nil {
			return n.From.inRow(n.Kind, in, ptr)
		}
		s, ok := snaps[n.From.Point]
		if !ok {
			return nil, fmt.Errorf("%s: the page at step %d was not read", orRoot(ptr), n.From.Point)
		}
		return n.From.absolute(n.Kind, newPage(s), ptr)
	}
	return nil, fmt.Errorf("%s: unknown kind %q", orRoot(ptr), n.Kind)
}

func (rs *Rows) read(snaps map[int]Snapshot, ptr string) (any, error) {
	items := []any{}
	for _, p := range rs.Points {
		s, ok := snaps[p]
		if !ok {
			return nil, fmt.Errorf("%s: the page at step %d was not read", orRoot(ptr), p)
		}
		pg := newPage(s)
		for i, prefix := range pg.rows(rs.Pattern) {
			v, err := rs.Item.read(snaps, &row{pg, prefix}, fmt.Sprintf("%s/%d", ptr, len(items)))
			if err != nil {
				if rs.Item.anyIn(&row{pg, prefix}) {
					// Part of the item is there and part not: the row
					// changed shape. Leaving it out would answer short.
					return nil, fmt.Errorf("row %d at step %d: %w", i+1, p, err)
				}
				continue // a row without the item's fields: a header, an ad
			}
			items = append(items, v)
		}
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%s: no rows like %s on the page", orRoot(ptr), rs.Pattern)
	}
	return items, nil
}

// anyIn reports whether any of the node's values can be read in the row.
func (n *Node) anyIn(in *row) bool {
	switch {
	case n.From != nil:
		_, err := n.From.inRow(n.Kind, in, "")
		return err == nil
	default:
		for _, f := range n.Fields {
			if f.anyIn(in) {
				return true
			}
		}
	}
	return false
}

func (r *Source) inRow(kind string, in *row, ptr string) (any, error) {
	path := in.prefix
	if r.Path != "" {
		path += "/" + r.Path
	}
	if t, ok := in.snap.at[path]; ok {
		if v, ok := r.extract(kind, t); ok {
			return v, nil
		}
		return nil, fmt.Errorf("%s: the text %q no longer has the recorded shape", orRoot(ptr), clipText(t, 80))
	}
	return nil, fmt.Errorf("%s: the row has no element %s", orRoot(ptr), r.Path)
}

// absolute reads a value outside rows: the element at the recorded path;
// failing that, the only element of the same tags' path that has the
// recorded words around a value, or the only element anywhere that has
// them when there are words to go by.
func (r *Source) absolute(kind string, pg *page, ptr string) (any, error) {
	if t, ok := pg.at[r.Path]; ok {
		if v, ok := r.extract(kind, t); ok {
			return v, nil
		}
	}
	shape := tagsOf(r.Path)
	var byShape, byWords []any
	for _, t := range pg.texts {
		v, ok := r.extract(kind, t.Text)
		if !ok {
			continue
		}
		if tagsOf(t.Path) == shape {
			byShape = append(byShape, v)
		}
		byWords = append(byWords, v)
	}
	switch {
	case len(byShape) == 1:
		return byShape[0], nil
	case len(byWords) == 1 && (r.Before != "" || r.After != ""):
		return byWords[0], nil
	}
	return nil, fmt.Errorf("%s: the element it was read from (%s) is not on the page in the recorded shape", orRoot(ptr), r.Path)
}

// extract takes the value out of an element's text, if the text still has
// the recorded shape.
func (r *Source) extract(kind string, text string) (any, bool) {
	valuePat := `(.+?)`
	if kind == "number" {
		valuePat = `(` + numberPattern + `)`
	} else if r.AtEnd && r.After == "" {
		valuePat = `(.+)`
	}
	var b strings.Builder
	if r.AtStart {
		b.WriteString("^")
	}
	b.WriteString(regexp.QuoteMeta(r.Before))
	b.WriteString(valuePat)
	b.WriteString(regexp.QuoteMeta(r.After))
	if r.AtEnd {
		b.WriteString("$")
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, false
	}
	m := re.FindStringSubmatch(text)
	if m == nil {
		return nil, false
	}
	v := strings.TrimSpace(m[1])
	if kind != "number" {
		return v, v != ""
	}
	f, ok := parseNumber(v)
	if !ok {
		return nil, false
	}
	return json.Number(strconv.FormatFloat(f, 'f', -1, 64)), true
}

// numberPattern matches a number as pages write it: 12, -3.5, 1,299.00.
const numberPattern = `[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[-+]?\.\d+`

var numberRe = regexp.MustCompile(numberPattern)

func parseNumber(s string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return f, err == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
}

// page is a snapshot indexed by path.
type page struct {
	texts []Text
	at    map[string]string
}

func newPage(s Snapshot) *page {
	p := &page{texts: s.Texts, at: make(map[string]string, len(s.Texts))}
	for _, t := range s.Texts {
		if _, dup := p.at[t.Path]; !dup {
			p.at[t.Path] = t.Text
		}
	}
	return p
}

// rows lists the distinct row paths matching pattern, in page order.
func (p *page) rows(pattern string) []string {
	pat := strings.Split(pattern, "/")
	var out []string
	for _, t := range p.texts {
		segs := strings.Split(t.Path, "/")
		if len(segs) < len(pat) || !matchRow(pat, segs) {
			continue
		}
		prefix := strings.Join(segs[:len(pat)], "/")
		if !slices.Contains(out, prefix) {
			out = append(out, prefix)
		}
	}
	return out
}

func matchRow(pat, segs []string) bool {
	for i, p := range pat {
		if tag, ok := strings.CutSuffix(p, ":*"); ok {
			if t, _, _ := strings.Cut(segs[i], ":"); t != tag {
				return false
			}
			continue
		}
		if p != segs[i] {
			return false
		}
	}
	return true
}

// tagsOf is a path without positions: "main/ul/li/span".
func tagsOf(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i], _, _ = strings.Cut(s, ":")
	}
	return strings.Join(segs, "/")
}

func orRoot(ptr string) string {
	if ptr == "" {
		return "the answer"
	}
	return ptr
}

func escapePointer(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}

// Equal reports whether two decoded answers are the same value: numbers
// compare by value (12.5 and 12.50), whatever type holds them.
func Equal(a, b any) bool {
	if fa, ok := number(a); ok {
		fb, ok := number(b)
		return ok && fa == fb
	}
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !Equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return 0, false
}
