package extract

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/errandhq/errand/internal/output"
)

// convertScalar turns one found value into the JSON type the schema asks
// for, or reports false. It converts what is there and never fills a gap:
// "Call for price" is not a number, and a missing availability is not
// "false".
func convertScalar(v any, n *output.Node) (any, bool) {
	if rec, ok := v.(*record); ok {
		// A nested thing where a plain value is wanted: a brand or an author
		// stands for its name, an ImageObject for its address.
		s, ok := recordText(rec)
		if !ok {
			return nil, false
		}
		v = s
	}
	for _, t := range preference(n) {
		var out any
		var ok bool
		switch t {
		case "boolean":
			out, ok = toBool(v)
		case "integer":
			out, ok = toNumber(v, true)
		case "number":
			out, ok = toNumber(v, false)
		case "string":
			out, ok = toString(v)
		}
		if ok && enumAllows(n, &out) {
			return out, true
		}
	}
	return nil, false
}

// preference orders the scalar types a node allows from most to least
// specific, so ["number","string"] takes 29.99 as a number. An
// unconstrained node keeps what the page wrote, as a string.
func preference(n *output.Node) []string {
	if n == nil || len(n.Types) == 0 {
		return []string{"string"}
	}
	var out []string
	for _, t := range []string{"boolean", "integer", "number", "string"} {
		if slices.Contains(n.Types, t) {
			out = append(out, t)
		}
	}
	return out
}

// enumAllows checks an enum and, for strings, maps a value onto the enum's
// own spelling: "https://schema.org/InStock" fits enum ["InStock", …].
func enumAllows(n *output.Node, v *any) bool {
	if n == nil || len(n.Enum) == 0 {
		return true
	}
	for _, e := range n.Enum {
		if equalJSON(e, *v) {
			return true
		}
	}
	s, ok := (*v).(string)
	if !ok {
		return false
	}
	for _, e := range n.Enum {
		if es, ok := e.(string); ok && (norm(es) == norm(s) || norm(es) == norm(term(s))) {
			*v = es
			return true
		}
	}
	return false
}

func equalJSON(a, b any) bool {
	an, aok := a.(json.Number)
	bn, bok := b.(json.Number)
	if aok && bok {
		return an.String() == bn.String()
	}
	return a == b
}

func recordText(r *record) (string, bool) {
	for _, k := range []string{"name", "headline", "title", "url", "contenturl", "text", "value", "@id"} {
		for _, v := range r.fields[k] {
			if s, ok := toString(v); ok {
				return s.(string), true
			}
		}
	}
	return "", false
}

func toString(v any) (any, bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = clean(v)
	case json.Number:
		s = v.String()
	case bool:
		if v {
			s = "true"
		} else {
			s = "false"
		}
	}
	if s == "" {
		return nil, false
	}
	return s, true
}

var (
	numberRe = regexp.MustCompile(`[-−]?\d[\d.,'\x{00a0}\x{202f} ]*`)
	canonRe  = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)
)

// toNumber reads a number as pages write prices and counts: "$1,299.99",
// "29,99 €", "29.99 USD", "1.299.000", "4.5 out of 5". The result is a
// json.Number holding the digits found, so nothing is lost to float64.
// With integer set, a value with a fraction is refused rather than rounded.
func toNumber(v any, integer bool) (any, bool) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
		if canonRe.MatchString(s) {
			return finishNumber(s, integer)
		}
	case string:
		s = v
	default:
		return nil, false
	}
	m := numberRe.FindString(s)
	if m == "" {
		return nil, false
	}
	neg := strings.HasPrefix(m, "-") || strings.HasPrefix(m, "−")
	m = strings.TrimLeft(m, "-−")
	// Spaces, apostrophes and no-break spaces only ever group thousands.
	m = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\'', '\u00a0', '\u202f':
			return -1
		}
		return r
	}, m)
	m = strings.TrimRight(m, ".,")
	intPart, frac := splitDecimal(m)
	if intPart == "" {
		return nil, false
	}
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	out := intPart
	if frac != "" {
		out += "." + frac
	}
	if neg && strings.Trim(out, "0.") != "" {
		out = "-" + out
	}
	return finishNumber(out, integer)
}

// splitDecimal decides which of '.' and ',' is the decimal mark. Both
// present: the last one is. One comma followed by one or two digits is a
// decimal comma ("29,99"); followed by three it groups thousands ("1,299").
// Repeated marks group thousands ("1.299.000").
func splitDecimal(m string) (intPart, frac string) {
	dots, commas := strings.Count(m, "."), strings.Count(m, ",")
	last := strings.LastIndexAny(m, ".,")
	switch {
	case dots == 0 && commas == 0:
		return m, ""
	case dots > 0 && commas > 0:
		return strip(m[:last]), m[last+1:]
	case dots+commas > 1:
		return strip(m), ""
	case commas == 1 && len(m)-last-1 == 3:
		return strip(m), ""
	default:
		return m[:last], m[last+1:]
	}
}

func strip(s string) string {
	return strings.NewReplacer(",", "", ".", "").Replace(s)
}

func finishNumber(s string, integer bool) (any, bool) {
	if !canonRe.MatchString(s) {
		return nil, false
	}
	if integer {
		if strings.ContainsAny(s, "eE") {
			return nil, false
		}
		if i := strings.IndexByte(s, '.'); i >= 0 {
			if strings.Trim(s[i+1:], "0") != "" {
				return nil, false
			}
			s = s[:i]
		}
	}
	return json.Number(s), true
}

// toBool reads availability as schema.org and shop pages write it.
func toBool(v any) (any, bool) {
	switch v := v.(type) {
	case bool:
		return v, true
	case json.Number:
		return nil, false
	case string:
		t := strings.ToLower(clean(v))
		f := norm(term(v))
		switch f {
		case "instock", "instoreonly", "onlineonly", "limitedavailability", "true", "yes", "available":
			return true, true
		case "outofstock", "soldout", "discontinued", "false", "no", "unavailable":
			return false, true
		}
		// Longer shop wording: check the negatives first, since
		// "not in stock" contains "in stock".
		for _, neg := range []string{"out of stock", "sold out", "not in stock", "unavailable", "not available", "no longer available", "discontinued"} {
			if strings.Contains(t, neg) {
				return false, true
			}
		}
		for _, pos := range []string{"in stock", "available", "ships today", "ready to ship"} {
			if strings.Contains(t, pos) {
				return true, true
			}
		}
	}
	return nil, false
}
