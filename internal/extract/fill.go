package extract

import (
	"fmt"
	"sort"
	"strings"

	"github.com/errandhq/errand/internal/output"
)

// filler fills a schema from one page.
type filler struct {
	pg        *page
	listCache []list
	listsDone bool
	names     map[string]nameInfo
}

// nameInfo is what a property's name means, worked out once per answer.
type nameInfo struct {
	keys   []string
	group  string
	urlish bool
}

func (f *filler) name(p *output.Property) nameInfo {
	if ni, ok := f.names[p.Name]; ok && ni.urlish == urlish(p, ni.group) {
		return ni
	}
	if f.names == nil {
		f.names = map[string]nameInfo{}
	}
	ni := nameInfo{keys: keysFor(p.Name), group: group(p.Name)}
	ni.urlish = urlish(p, ni.group)
	f.names[p.Name] = ni
	return ni
}

// missing is a required property that could not be filled; found holds a
// value that was there but could not be converted, to say why, and
// disagree the values that contradict each other when that is the reason.
type missing struct {
	path     string
	found    string
	want     string // the schema's type, to word why found did not do
	disagree []any
}

// fillObject fills n's properties from sources. Lists found elsewhere on
// the page may fill array properties only when allowLists is set: an item
// of a list must be filled from that item alone, never from the page
// around it.
func (f *filler) fillObject(n *output.Node, sources []*record, allowLists bool, path string) (map[string]any, []missing) {
	obj := map[string]any{}
	var miss []missing
	for _, p := range n.Properties {
		v, why := f.fillProperty(p, sources, allowLists, path+"/"+p.Name)
		if why == nil {
			obj[p.Name] = v
			continue
		}
		if p.Required {
			why.path = path + "/" + p.Name
			why.want = typeWord(p.Schema)
			miss = append(miss, *why)
		}
	}
	return obj, miss
}

// fillProperty answers one property, or says why not.
func (f *filler) fillProperty(p *output.Property, sources []*record, allowLists bool, path string) (any, *missing) {
	keys := f.name(p).keys
	ps := p.Schema
	all := expand(sources)
	if ps.Is("array") {
		v, disagree, ok := f.fillArray(p, all, allowLists, path)
		if ok {
			return v, nil
		}
		if len(disagree) > 0 {
			return nil, &missing{disagree: disagree}
		}
	}
	if ps.Is("object") {
		for _, src := range byRank(all) {
			for _, v := range src.lookup(keys) {
				rec, ok := v.(*record)
				if !ok {
					continue
				}
				obj, miss := f.fillObject(ps, []*record{rec}, false, path)
				if len(miss) == 0 && len(obj) > 0 {
					return obj, nil
				}
			}
		}
	}
	cands, found := f.candidates(p, all, ps)
	v, disagree, ok := decide(f.name(p).group, cands)
	if ok {
		return v, nil
	}
	return nil, &missing{found: found, disagree: disagree}
}

// candidates converts every value sources give for p into node n's type.
// found is the first value that was there but did not convert.
func (f *filler) candidates(p *output.Property, sources []*record, n *output.Node) ([]candidate, string) {
	ni := f.name(p)
	keys, g := ni.keys, ni.group
	var out []candidate
	var found string
	for _, src := range sources {
		vals := src.lookup(keys)
		if g == "author" && !src.independent {
			vals = joinPeople(vals)
		}
		for _, v := range vals {
			c, ok := f.convert(p, g, src, v, n)
			if ok {
				out = append(out, candidate{v: c, rank: src.rank})
				if !src.independent {
					break
				}
				continue
			}
			if s, isString := v.(string); isString && found == "" {
				found = s
			}
		}
	}
	return out, found
}

// joinPeople writes a declared list of people as a byline does, "Ana Ruiz
// and Tom Black", so that one author's name does not stand for two.
func joinPeople(vals []any) []any {
	var names []string
	for _, v := range vals {
		s, ok := v.(string)
		if r, isRec := v.(*record); isRec {
			s, ok = recordText(r, "author")
		}
		if !ok || s == "" {
			return vals
		}
		names = append(names, s)
	}
	if len(names) < 2 {
		return vals
	}
	return []any{strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]}
}

// convert turns one value found under p's name into n's type, through
// plausible for strings.
func (f *filler) convert(p *output.Property, g string, src *record, v any, n *output.Node) (any, bool) {
	switch x := v.(type) {
	case items:
		return nil, false // a list is not one value
	case link:
		if v = x.text; f.name(p).urlish {
			v = x.href
		}
	case *record:
		s, ok := recordText(x, g)
		if !ok {
			return nil, false
		}
		v = s
	}
	if s, ok := v.(string); ok {
		s, ok = f.plausible(g, p, src, s)
		if !ok {
			return nil, false
		}
		v = s
	}
	return convertScalar(v, n, numberStyle{lang: f.pg.lang, declared: declared(src)})
}

// declared sources write numbers as schema.org says, with a decimal point.
func declared(r *record) bool {
	return r.source == "json-ld" || r.source == "meta"
}

// expand lists each source followed by its weaker findings.
func expand(sources []*record) []*record {
	var out []*record
	for _, s := range sources {
		for r := s; r != nil; r = r.weak {
			out = append(out, r)
		}
	}
	return out
}

// byRank orders sources by rank, best first, keeping their order on ties.
func byRank(sources []*record) []*record {
	out := append([]*record(nil), sources...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].rank > out[j].rank })
	return out
}

// fillArray fills an array property: of objects from the records the
// sources hold under its name (or, with allowLists, the page's best list);
// of plain values from the best-ranked source that gives any, every
// source of that rank agreeing.
func (f *filler) fillArray(p *output.Property, sources []*record, allowLists bool, path string) ([]any, []any, bool) {
	keys := f.name(p).keys
	item := p.Schema.Items
	if item != nil && item.Is("object") {
		for _, src := range byRank(sources) {
			var out []any
			for _, v := range src.lookup(keys) {
				if rec, ok := v.(*record); ok {
					if obj, miss := f.fillObject(item, []*record{rec}, false, path); len(miss) == 0 && len(obj) > 0 {
						out = append(out, obj)
					}
				}
			}
			if len(out) > 0 {
				return out, nil, true
			}
		}
		if allowLists {
			if best := f.bestList(item, jsonRank); best != nil {
				return best.objects, nil, true
			}
		}
		return nil, nil, false
	}
	g := f.name(p).group
	var best []any
	bestRank := -1
	for _, src := range byRank(sources) {
		if best != nil && src.rank < bestRank {
			break
		}
		var out []any
		seen := map[any]bool{}
		add := func(v any) {
			if c, ok := f.convert(p, g, src, v, item); ok && !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
		for _, v := range src.lookup(keys) {
			if l, ok := v.(items); ok {
				for _, it := range l {
					add(it)
				}
				continue
			}
			add(v)
		}
		switch {
		case len(out) == 0:
		case best == nil:
			best, bestRank = out, src.rank
		case !sameList(g, best, out):
			return nil, []any{best, out}, false
		}
	}
	return best, nil, best != nil
}

func sameList(g string, a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !agree(g, a[i], b[i]) {
			return false
		}
	}
	return true
}

// rootSources lists what the page says about its main subject: the
// JSON-LD entity and the microdata item that best fit the schema (site
// furniture such as an Organization only one rank above guesses), its main
// heading, its meta tags and title, elements named by class, label–value
// rows, contact details, cues in its text, and the readable text. Sources
// inside page furniture or other things' blocks are left out.
func (f *filler) rootSources(n *output.Node) []*record {
	var out []*record
	h := f.pg.headings()
	for _, recs := range [][]*record{f.pg.jsonLD(), f.pg.microdata()} {
		if r := f.bestEntity(n, f.mainOnly(recs), h); r != nil {
			if r.rank = 2; furnitureEntity(r) {
				r.rank = 1
			}
			out = append(out, r)
		}
	}
	out = append(out, h, f.pg.meta(), f.pg.titles(), f.pg.classRecord(f.pg.bodyNode(), "dom"), f.pg.rows())
	// The text readers run only for what they alone give; readability is
	// the slowest step of all.
	asked := map[string]bool{}
	f.groupsAsked(n, asked, 0)
	if anyIn(asked, contactGroups) {
		out = append(out, f.pg.contact())
	}
	if anyIn(asked, cueGroups) {
		out = append(out, f.pg.cues())
	}
	if asked["articlebody"] || asked["author"] {
		out = append(out, f.pg.readable())
	}
	return out
}

var (
	contactGroups = []string{"telephone", "faxnumber", "email", "address", "streetaddress", "postalcode", "addresslocality", "addressregion", "addresscountry"}
	cueGroups     = []string{"datepublished", "ratingvalue", "reviewcount", "location", "availability"}
)

// groupsAsked gathers the synonym groups of n's properties, nested ones
// included.
func (f *filler) groupsAsked(n *output.Node, into map[string]bool, depth int) {
	if n == nil || depth > 3 {
		return
	}
	for _, p := range n.Properties {
		into[group(p.Name)] = true
		f.groupsAsked(p.Schema, into, depth+1)
		f.groupsAsked(p.Schema.Items, into, depth+1)
	}
}

// mainOnly drops the records declared inside furniture or other things'
// blocks (a recommendation card's own Product).
func (f *filler) mainOnly(recs []*record) []*record {
	var out []*record
	for _, r := range recs {
		if !f.pg.inBlockAboutOthers(r.node) {
			out = append(out, r)
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

func furnitureEntity(r *record) bool {
	for _, t := range r.types {
		if furniture[t] {
			return true
		}
	}
	return false
}

// bestEntity picks the record that fills the most of n (required
// properties counting double), preferring a page's subject (a Product, an
// Article) to site furniture, then the one named as the page's main
// heading, then the earliest.
func (f *filler) bestEntity(n *output.Node, recs []*record, heading *record) *record {
	var best *record
	bestScore := 0
	for _, r := range recs {
		score := 0
		for _, p := range n.Properties {
			if _, why := f.fillProperty(p, []*record{r}, false, ""); why == nil {
				score += 4
				if p.Required {
					score += 4
				}
			}
		}
		if score == 0 {
			continue
		}
		if !furnitureEntity(r) {
			score += 2
		}
		if namedAs(r, heading) {
			score++
		}
		if score > bestScore {
			best, bestScore = r, score
		}
	}
	return best
}

// namedAs reports whether r's name is one of the page's main headings.
func namedAs(r *record, heading *record) bool {
	for _, v := range r.fields["name"] {
		for _, h := range heading.fields["name"] {
			if s, ok := v.(string); ok && norm(s) == norm(h.(string)) {
				return true
			}
		}
	}
	return false
}

// missingError words the required properties that were not found.
func missingError(miss []missing) *Error {
	e := &Error{}
	var absent, unclear []string
	for _, m := range miss {
		name := m.path
		if len(name) > 0 && name[0] == '/' {
			name = name[1:]
		}
		e.Missing = append(e.Missing, name)
		part := fmt.Sprintf("%q", name)
		if len(m.disagree) > 1 {
			var vs []string
			for _, v := range m.disagree {
				vs = append(vs, truncate(fmt.Sprint(v), 60))
			}
			unclear = append(unclear, part+" ("+joinOr(vs)+")")
			continue
		}
		if m.found != "" {
			part += fmt.Sprintf(" (found %q, which is not %s)", truncate(m.found, 60), m.want)
		}
		absent = append(absent, part)
	}
	sort.Strings(e.Missing)
	var reasons []string
	if len(absent) > 0 {
		reasons = append(reasons, fmt.Sprintf("the page does not give the required %s %s", plural("property", len(absent)), joinAnd(absent)))
	}
	if len(unclear) > 0 {
		// Two values of which neither is clearly the field: a stale price
		// in the structured data beside the one shown, say.
		reasons = append(reasons, fmt.Sprintf("the page gives different values for the required %s %s, and neither is clearly the field", plural("property", len(unclear)), joinAnd(unclear)))
	}
	e.Reason = strings.Join(reasons, "; ")
	return e
}

func plural(noun string, n int) string {
	if n == 1 {
		return noun
	}
	return strings.TrimSuffix(noun, "y") + "ies"
}

func joinOr(parts []string) string {
	for i, p := range parts {
		parts[i] = fmt.Sprintf("%q", p)
	}
	return joinAnd(parts)
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
