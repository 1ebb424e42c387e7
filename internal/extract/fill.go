package extract

import (
	"fmt"
	"sort"

	"github.com/errandhq/errand/internal/output"
)

// filler fills a schema from one page.
type filler struct {
	pg        *page
	listCache []list
	listsDone bool
}

// missing is a required property that could not be filled; found holds a
// value that was there but could not be converted, to say why.
type missing struct {
	path  string
	found string
	want  string // the schema's type, to word why found did not do
}

// fillObject fills n's properties from sources, trying them in order for
// each property. Lists found elsewhere on the page may fill array
// properties only when allowLists is set: an item of a list must be filled
// from that item alone, never from the page around it.
func (f *filler) fillObject(n *output.Node, sources []*record, allowLists bool, path string) (map[string]any, []missing) {
	obj := map[string]any{}
	var miss []missing
	for _, p := range n.Properties {
		v, found, ok := f.fillProperty(p, sources, allowLists, path+"/"+p.Name)
		if ok {
			obj[p.Name] = v
			continue
		}
		if p.Required {
			miss = append(miss, missing{path: path + "/" + p.Name, found: found, want: typeWord(p.Schema)})
		}
	}
	return obj, miss
}

func (f *filler) fillProperty(p *output.Property, sources []*record, allowLists bool, path string) (any, string, bool) {
	keys := keysFor(p.Name)
	ps := p.Schema
	var firstFound string
	if ps.Is("array") {
		if v, ok := f.fillArray(ps, keys, sources, allowLists, path); ok {
			return v, "", true
		}
	}
	if ps.Is("object") {
		for _, src := range sources {
			for _, v := range src.lookup(keys) {
				rec, ok := v.(*record)
				if !ok {
					continue
				}
				obj, miss := f.fillObject(ps, []*record{rec}, false, path)
				if len(miss) == 0 && len(obj) > 0 {
					return obj, "", true
				}
			}
		}
	}
	for _, src := range sources {
		vals := src.lookup(keys)
		for _, v := range vals {
			if out, ok := convertScalar(v, ps); ok {
				return out, "", true
			}
			if firstFound == "" {
				if s, ok := v.(string); ok {
					firstFound = s
				}
			}
		}
	}
	return nil, firstFound, false
}

func (f *filler) fillArray(n *output.Node, keys []string, sources []*record, allowLists bool, path string) ([]any, bool) {
	item := n.Items
	if item != nil && item.Is("object") {
		for _, src := range sources {
			var out []any
			for _, v := range src.lookup(keys) {
				if rec, ok := v.(*record); ok {
					if obj, miss := f.fillObject(item, []*record{rec}, false, path); len(miss) == 0 && len(obj) > 0 {
						out = append(out, obj)
					}
				}
			}
			if len(out) > 0 {
				return out, true
			}
		}
		if allowLists {
			if best := f.bestList(item, jsonRank); best != nil {
				return best.objects, true
			}
		}
		return nil, false
	}
	for _, src := range sources {
		var out []any
		seen := map[any]bool{}
		for _, v := range src.lookup(keys) {
			if c, ok := convertScalar(v, item); ok && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		if len(out) > 0 {
			return out, true
		}
	}
	return nil, false
}

// rootSources lists, best first, what the page says about its main
// subject: the JSON-LD entity and the microdata item that best fit the
// schema, the meta tags, the main heading and title, elements named by
// class, and the readable text.
func (f *filler) rootSources(n *output.Node) []*record {
	var out []*record
	if r := f.bestEntity(n, f.pg.jsonLD()); r != nil {
		out = append(out, r)
	}
	if r := f.bestEntity(n, f.pg.microdata()); r != nil {
		out = append(out, r)
	}
	out = append(out, f.pg.meta(), f.pg.basics(), f.pg.classRecord(f.pg.bodyNode(), "dom"))
	// Readability is the slowest step; run it only for what it alone gives.
	for _, p := range n.Properties {
		if g := group(p.Name); g == "articlebody" || g == "author" {
			out = append(out, f.pg.readable())
			break
		}
	}
	return out
}

// furniture are entity types that describe the site rather than what a
// page is about; they win only when nothing else fits.
var furniture = map[string]bool{
	"website": true, "webpage": true, "organization": true, "breadcrumblist": true, "searchaction": true,
	"sitenavigationelement": true, "wpheader": true, "wpfooter": true, "imageobject": true, "listitem": true,
	"collectionpage": true, "itempage": true, "person": true, "corporation": true, "localbusiness": true,
}

// bestEntity picks the record that fills the most of n (required
// properties counting double), preferring a page's subject (a Product, an
// Article) to site furniture, and the earliest on ties.
func (f *filler) bestEntity(n *output.Node, recs []*record) *record {
	var best *record
	bestScore := 0
	for _, r := range recs {
		score := 0
		for _, p := range n.Properties {
			if _, _, ok := f.fillProperty(p, []*record{r}, false, ""); ok {
				score += 2
				if p.Required {
					score += 2
				}
			}
		}
		if score == 0 {
			continue
		}
		furn := false
		for _, t := range r.types {
			furn = furn || furniture[t]
		}
		if !furn {
			score++
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best
}

// missingError words the required properties that were not found.
func missingError(miss []missing) *Error {
	e := &Error{}
	var parts []string
	for _, m := range miss {
		name := m.path
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		e.Missing = append(e.Missing, name)
		part := fmt.Sprintf("%q", name)
		if m.found != "" {
			part += fmt.Sprintf(" (found %q, which is not %s)", truncate(m.found, 60), m.want)
		}
		parts = append(parts, part)
	}
	sort.Strings(e.Missing)
	noun := "property"
	if len(parts) > 1 {
		noun = "properties"
	}
	e.Reason = fmt.Sprintf("the page does not give the required %s %s", noun, joinAnd(parts))
	return e
}

func joinAnd(parts []string) string {
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	out := ""
	for i, p := range parts {
		switch {
		case i == 0:
			out = p
		case i == len(parts)-1:
			out += " and " + p
		default:
			out += ", " + p
		}
	}
	return out
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// typeWord names what a schema wants, for messages: "a number".
func typeWord(n *output.Node) string {
	switch {
	case n.Is("integer") && !n.Is("string"):
		return "a whole number"
	case n.Is("number") && !n.Is("string"):
		return "a number"
	case n.Is("boolean") && !n.Is("string"):
		return "true or false"
	case len(n.Enum) > 0:
		return "one of the allowed values"
	}
	return "usable here"
}
