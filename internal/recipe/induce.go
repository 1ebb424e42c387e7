package recipe

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Induce ties an answer to the pages a run saw: for each value, the
// element whose text gave it (the latest page first) and the words around
// it; for each list, the repeated elements its items came from. It checks
// its work by reading the answer back from the same snapshots: an answer
// the pages do not give back exactly (the model reworded, computed,
// filtered or reordered what it read) is an error, and the recipe then
// leaves the answer to the model.
//
// answer is a decoded JSON value (objects, arrays, strings, json.Number or
// float64, nil); snaps are the snapshots by point.
func Induce(answer any, snaps []Snapshot) (*Node, error) {
	in := &inducer{pages: map[int]*page{}}
	byPoint := map[int]Snapshot{}
	for _, s := range snaps {
		byPoint[s.Point] = s
	}
	for p, s := range byPoint {
		in.points = append(in.points, p)
		in.pages[p] = newPage(s)
	}
	slices.SortFunc(in.points, func(a, b int) int { return b - a }) // latest first
	n, err := in.node(answer, "")
	if err != nil {
		return nil, err
	}
	got, err := n.Read(byPoint)
	if err != nil {
		return nil, fmt.Errorf("the pages do not give the answer back: %w", err)
	}
	if !Equal(got, answer) {
		return nil, errors.New("the pages give another answer back than the one given (it was reworded, filtered or reordered)")
	}
	return n, nil
}

type inducer struct {
	points []int // latest first
	pages  map[int]*page
}

// hit is one place a value was seen.
type hit struct {
	point int
	read  Source
	exact bool // the element's whole text is the value
	extra int  // how much other text the element has
}

func (in *inducer) node(v any, ptr string) (*Node, error) {
	switch x := v.(type) {
	case nil:
		return &Node{Kind: "null"}, nil
	case bool:
		return nil, fmt.Errorf("%s is true or false: such a value is not read off the page", orRoot(ptr))
	case string:
		if x == "" {
			return &Node{Kind: "empty"}, nil
		}
	case map[string]any:
		n := &Node{Kind: "object"}
		for _, k := range sortedKeys(x) {
			f, err := in.node(x[k], ptr+"/"+escapePointer(k))
			if err != nil {
				return nil, err
			}
			n.Keys = append(n.Keys, k)
			n.Fields = append(n.Fields, f)
		}
		return n, nil
	case []any:
		return in.list(x, ptr)
	}
	kind := leafKind(v)
	if kind == "" {
		return nil, fmt.Errorf("%s: a %T is not read off the page", orRoot(ptr), v)
	}
	for _, p := range in.points {
		if hits := in.pages[p].find(kind, v, p); len(hits) > 0 {
			return &Node{Kind: kind, From: &hits[0].read}, nil
		}
	}
	return nil, fmt.Errorf("%s (%s) is not on any page the run saw", orRoot(ptr), clipText(fmt.Sprint(v), 60))
}

func leafKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case json.Number, float64, int, int64:
		return "number"
	}
	return ""
}

// find lists the elements of the page where v shows, best first: the
// whole text before part of it, then less other text, then deeper.
func (p *page) find(kind string, v any, point int) []hit {
	var hits []hit
	for _, t := range p.texts {
		if h, ok := match(kind, v, t.Text); ok {
			h.point = point
			h.read.Point = point
			h.read.Path = t.Path
			hits = append(hits, h)
		}
	}
	slices.SortStableFunc(hits, func(a, b hit) int {
		switch {
		case a.exact != b.exact:
			if a.exact {
				return -1
			}
			return 1
		case a.extra != b.extra:
			return a.extra - b.extra
		}
		return strings.Count(b.read.Path, "/") - strings.Count(a.read.Path, "/")
	})
	return hits
}

// match finds v in an element's text and says how to find it there again.
func match(kind string, v any, text string) (hit, bool) {
	if kind == "number" {
		want, _ := number(v)
		for _, loc := range numberRe.FindAllStringIndex(text, -1) {
			if f, ok := parseNumber(text[loc[0]:loc[1]]); ok && f == want {
				return around(text, loc[0], loc[1]), true
			}
		}
		return hit{}, false
	}
	s := strings.Join(strings.Fields(v.(string)), " ")
	if s == "" {
		return hit{}, false
	}
	from := 0
	for {
		i := strings.Index(text[from:], s)
		if i < 0 {
			return hit{}, false
		}
		start, end := from+i, from+i+len(s)
		if boundary(text, start, end) {
			return around(text, start, end), true
		}
		from = start + 1
	}
}

// boundary reports whether text[start:end] is whole words: "Mug" in "Blue
// Mug" but not in "Mugs".
func boundary(text string, start, end int) bool {
	if start > 0 {
		r, _ := utf8.DecodeLastRuneInString(text[:start])
		f, _ := utf8.DecodeRuneInString(text[start:])
		if wordRune(r) && wordRune(f) {
			return false
		}
	}
	if end < len(text) {
		r, _ := utf8.DecodeRuneInString(text[end:])
		l, _ := utf8.DecodeLastRuneInString(text[:end])
		if wordRune(r) && wordRune(l) {
			return false
		}
	}
	return true
}

func wordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// around keeps the few words on each side of text[start:end].
func around(text string, start, end int) hit {
	before, after := tail(text[:start], 24), head(text[end:], 16)
	return hit{
		exact: start == 0 && end == len(text),
		extra: len(text) - (end - start),
		read: Source{
			Before: before, After: after,
			AtStart: before == text[:start], AtEnd: after == text[end:],
		},
	}
}

// tail is the end of s, at most n bytes, not starting inside a word.
func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	t := s[len(s)-n:]
	for len(t) > 0 && !utf8.RuneStart(t[0]) {
		t = t[1:]
	}
	if i := strings.IndexByte(t, ' '); i >= 0 && i < len(t)-1 {
		t = t[i+1:]
	}
	return t
}

// head is the start of s, at most n bytes, not ending inside a word.
func head(s string, n int) string {
	if len(s) <= n {
		return s
	}
	h := s[:n]
	for len(h) > 0 && !utf8.RuneStart(s[len(h)]) {
		h = h[:len(h)-1]
	}
	if i := strings.LastIndexByte(h, ' '); i > 0 {
		h = h[:i]
	}
	return h
}

// item is where one list item was found: every value of it on one page.
type item struct {
	point int
	hits  map[string]hit // by pointer inside the item ("" for a scalar)
	lca   []string       // the deepest element holding all of them
}

// list ties a list to repeated elements: its items must sit in elements
// alike (same tags down the path) that differ in one place, the row.
func (in *inducer) list(items []any, ptr string) (*Node, error) {
	if len(items) == 0 {
		return nil, fmt.Errorf("%s is an empty list: nothing on the page shows what its items would be", orRoot(ptr))
	}
	found := make([]item, len(items))
	for i, v := range items {
		it, err := in.item(v, fmt.Sprintf("%s/%d", ptr, i))
		if err != nil {
			return nil, err
		}
		found[i] = it
	}
	depth := len(found[0].lca)
	for _, it := range found {
		if len(it.lca) != depth || tagsOf(strings.Join(it.lca, "/")) != tagsOf(strings.Join(found[0].lca, "/")) {
			return nil, fmt.Errorf("%s: its items are not in alike elements on the page", orRoot(ptr))
		}
	}
	var varying []int
	for k := 0; k < depth; k++ {
		for _, a := range found {
			if slices.ContainsFunc(found, func(b item) bool { return b.point == a.point && b.lca[k] != a.lca[k] }) {
				varying = append(varying, k)
				break
			}
		}
	}
	var j int
	switch len(varying) {
	case 0:
		j = in.pages[found[0].point].rowLevel(found[0].lca)
	case 1:
		j = varying[0]
	default:
		return nil, fmt.Errorf("%s: its items differ in more than one place on the page (a grid?)", orRoot(ptr))
	}
	prefix := found[0].lca[:j]
	tag, _, _ := strings.Cut(found[0].lca[j], ":")
	pattern := strings.Join(append(slices.Clone(prefix), tag+":*"), "/")
	var points []int
	for _, it := range found {
		if !slices.Contains(points, it.point) {
			points = append(points, it.point)
		}
	}
	return &Node{Kind: "array", Rows: &Rows{Points: points, Pattern: pattern, Item: rowItem(items[0], "", found[0].hits, j+1)}}, nil
}

// rowItem mirrors an item's shape with reads relative to its row, which
// ends at path segment rowEnd.
func rowItem(v any, ptr string, hits map[string]hit, rowEnd int) *Node {
	switch x := v.(type) {
	case nil:
		return &Node{Kind: "null"}
	case string:
		if x == "" {
			return &Node{Kind: "empty"}
		}
	case map[string]any:
		n := &Node{Kind: "object"}
		for _, k := range sortedKeys(x) {
			n.Keys = append(n.Keys, k)
			n.Fields = append(n.Fields, rowItem(x[k], ptr+"/"+escapePointer(k), hits, rowEnd))
		}
		return n
	}
	h := hits[ptr]
	r := h.read
	segs := strings.Split(r.Path, "/")
	r.Path = strings.Join(segs[rowEnd:], "/")
	r.Point = 0
	return &Node{Kind: leafKind(v), From: &r}
}

// item finds every value of one list item on one page, as close together
// as they can be.
func (in *inducer) item(v any, ptr string) (item, error) {
	leaves := map[string]any{}
	if err := collectLeaves(v, "", leaves); err != nil {
		return item{}, fmt.Errorf("%s%w", ptr, err)
	}
	if len(leaves) == 0 {
		return item{}, fmt.Errorf("%s has no value to find on the page", ptr)
	}
	keys := sortedKeys(leaves)
	for _, p := range in.points {
		pg := in.pages[p]
		options := make([][]hit, len(keys))
		complete := true
		for i, k := range keys {
			options[i] = pg.find(leafKind(leaves[k]), leaves[k], p)
			if len(options[i]) == 0 {
				complete = false
				break
			}
		}
		if !complete {
			continue
		}
		best := item{point: p}
		for _, first := range options[0][:min(len(options[0]), 8)] {
			cand := item{point: p, hits: map[string]hit{keys[0]: first}, lca: strings.Split(first.read.Path, "/")}
			for i := 1; i < len(keys); i++ {
				h := closest(options[i], cand.lca)
				cand.hits[keys[i]] = h
				cand.lca = common(cand.lca, strings.Split(h.read.Path, "/"))
			}
			if best.hits == nil || len(cand.lca) > len(best.lca) {
				best = cand
			}
		}
		return best, nil
	}
	return item{}, fmt.Errorf("%s is not on any one page the run saw", ptr)
}

// collectLeaves lists the strings and numbers of an item by pointer.
func collectLeaves(v any, ptr string, out map[string]any) error {
	switch x := v.(type) {
	case nil:
	case string:
		if x != "" {
			out[ptr] = x
		}
	case map[string]any:
		for k, f := range x {
			if err := collectLeaves(f, ptr+"/"+escapePointer(k), out); err != nil {
				return err
			}
		}
	case []any:
		return fmt.Errorf("%s: a list inside a list item is not read off the page", ptr)
	case bool:
		return fmt.Errorf("%s is true or false: such a value is not read off the page", ptr)
	default:
		if leafKind(v) == "" {
			return fmt.Errorf("%s: a %T is not read off the page", ptr, v)
		}
		out[ptr] = v
	}
	return nil
}

// closest is the hit sharing the longest path prefix with lca.
func closest(hits []hit, lca []string) hit {
	best, bestLen := hits[0], -1
	for _, h := range hits {
		if n := len(common(lca, strings.Split(h.read.Path, "/"))); n > bestLen {
			best, bestLen = h, n
		}
	}
	return best
}

func common(a, b []string) []string {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return a[:n:n]
}

// rowTags are the elements pages repeat for the items of a list.
var rowTags = map[string]bool{"li": true, "tr": true, "article": true, "dd": true, "dt": true, "option": true}

// rowLevel picks, for a list whose items do not show where they differ
// (one item, or one per page), the segment of path that is the row: the
// deepest list-like element, or the deepest that has siblings alike.
func (p *page) rowLevel(path []string) int {
	for k := len(path) - 1; k >= 0; k-- {
		tag, _, _ := strings.Cut(path[k], ":")
		if rowTags[tag] {
			return k
		}
		prefix := strings.Join(path[:k], "/")
		for _, t := range p.texts {
			segs := strings.Split(t.Path, "/")
			if len(segs) > k && strings.Join(segs[:k], "/") == prefix && segs[k] != path[k] && strings.HasPrefix(segs[k], tag+":") {
				return k
			}
		}
	}
	return len(path) - 1
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
