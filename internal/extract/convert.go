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
func convertScalar(v any, n *output.Node, st numberStyle) (any, bool) {
	if rec, ok := v.(*record); ok {
		// A nested thing where a plain value is wanted: a brand or an author
		// stands for its name, an ImageObject for its address.
		s, ok := recordText(rec, "")
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
			out, ok = toNumber(v, true, st)
		case "number":
			out, ok = toNumber(v, false, st)
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

// recordText is what a nested thing stands for where a plain value is
// asked: its name (a brand, an author, an organisation), for a place
// asked as a location its town, for an address its lines, and only for
// links its address or @id.
func recordText(r *record, g string) (string, bool) {
	first := func(keys ...string) (string, bool) {
		for _, k := range keys {
			for _, v := range r.fields[k] {
				if s, ok := toString(v); ok {
					return s.(string), true
				}
			}
		}
		return "", false
	}
	if s, ok := first("name", "headline", "title"); ok && g != "address" {
		return s, true
	}
	switch g {
	case "location", "addresslocality":
		if s, ok := first("addresslocality"); ok {
			return s, true
		}
		for _, v := range r.fields["address"] {
			if sub, ok := v.(*record); ok {
				return recordText(sub, g)
			}
		}
	case "address":
		if r.isType("postaladdress") {
			return addressLine(r), addressLine(r) != ""
		}
		for _, v := range r.fields["address"] {
			if sub, ok := v.(*record); ok {
				return recordText(sub, g)
			}
		}
	case "url", "image", "":
		return first("url", "contenturl", "@id")
	}
	return first("text", "value")
}

// addressLine joins a PostalAddress's parts in the order its country
// writes them.
func addressLine(r *record) string {
	get := func(k string) string {
		for _, v := range r.fields[k] {
			if s, ok := v.(string); ok {
				return s
			}
		}
		return ""
	}
	street, pc, town, region, country := get("streetaddress"), get("postalcode"), get("addresslocality"), get("addressregion"), get("addresscountry")
	var parts []string
	add := func(s string) {
		if s = clean(s); s != "" {
			parts = append(parts, s)
		}
	}
	add(street)
	if c := countryCode(country); c == "US" || c == "CA" || c == "AU" {
		add(town)
		add(clean(region + " " + pc))
	} else {
		add(clean(pc + " " + town))
		add(region)
	}
	add(country)
	return strings.Join(parts, ", ")
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
	// notTheValue are amounts a page writes beside the value that are not
	// it: former prices, savings, thresholds ("over $50", "ab 29 €"), and
	// percentages.
	notTheValue = regexp.MustCompile(`(?i)(\b(was|before|previously|originally|rrp|msrp|uvp|statt|avant|reg\.|regular price|list price|compare at|you save|save|saving|sie sparen|sparen|économisez|from|ab|starting at|à partir de|up to|over|under|est\.|estimated|approx\.|payments of|instalments of|installments of|pay in)\s*:?\s*(?:[$€£¥₹]|usd|eur|gbp|chf)?\s*\d[\d.,'\x{00a0} ]*(?:\s*(?:[$€£¥₹]|usd|eur|gbp|chf)\b)?)|[-−]?\d+(?:[.,]\d+)?\s?%`)
	// perPeriod is an amount per month or year: a rate beside a price
	// ("Est. $6,512/mo"), set aside when another amount is there.
	perPeriod = regexp.MustCompile(`(?i)(?:[$€£¥₹])?\s?\d[\d.,'\x{00a0}]*\s*(?:[$€£¥₹])?\s*(?:/|per|a|an|each)\s*(?:mo|month|mth|week|wk|yr|year|annum)\b`)
	// rangeRe is a range of amounts ("€75,000 – €90,000"): no one value.
	rangeRe = regexp.MustCompile(`\d\s*(?:[–—-]|to|bis|à)\s*(?:[$€£¥₹]\s?)?\d`)
	// outOf is a rating's scale: "4.6 out of 5", "4,5/5"; countAfter the
	// count of ratings that may follow it.
	outOf      = regexp.MustCompile(`(?i)^\s*(out of|of|/|von|sur|su|de)\s*\d`)
	countAfter = regexp.MustCompile(`(?i)^\s*(ratings?|reviews?|global ratings|customer reviews|bewertungen|avis)\W*$`)
)

// numberStyle says how a page writes numbers. Declared values (JSON-LD,
// meta tags) use a decimal point; visible text follows the page's
// language, which decides whether "1.299" is a thousand or one.
type numberStyle struct {
	lang     string
	declared bool
}

// commaDecimal lists the languages that write 1.299,00.
var commaDecimal = set("de", "nl", "da", "es", "it", "pt", "id", "tr", "el", "ro", "hr", "sl", "sr", "bs", "cs", "sk", "pl",
	"hu", "fi", "sv", "nb", "nn", "no", "ru", "uk", "bg", "fr", "ca", "eu", "gl", "lt", "lv", "et", "is", "vi", "af")

// dotDecimal lists the languages that write 1,299.00.
var dotDecimal = set("en", "ja", "zh", "ko", "th", "he", "hi", "ms", "tl", "ga", "mt")

func (st numberStyle) base() string {
	b, _, _ := strings.Cut(st.lang, "-")
	return b
}

// toNumber reads a number as pages write prices and counts: "$1,299.99",
// "29,99 €", "29.99 USD", "1.299.000", "4.5 out of 5". The result is a
// json.Number holding the digits found, so nothing is lost to float64.
// With integer set, a value with a fraction is refused rather than rounded.
func toNumber(v any, integer bool, st numberStyle) (any, bool) {
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
	if rangeRe.MatchString(s) {
		return nil, false // "From $59 – $89", "105–135 cm": no one value
	}
	s = notTheValue.ReplaceAllString(s, " ")
	locs := numberRe.FindAllStringIndex(s, -1)
	if len(locs) > 1 && perPeriod.MatchString(s) {
		s = perPeriod.ReplaceAllString(s, " ")
		locs = numberRe.FindAllStringIndex(s, -1)
	}
	if len(locs) == 0 {
		return nil, false
	}
	m := s[locs[0][0]:locs[0][1]]
	// Several numbers are one value only as a rating and its scale;
	// otherwise ("$140.00 $98.00", a date, a range) which is meant is a
	// guess.
	rating := outOf.MatchString(s[locs[0][1]:]) && (len(locs) == 2 || len(locs) == 3 && countAfter.MatchString(s[locs[2][1]:]))
	if len(locs) > 1 && !rating {
		first, ok := readNumber(m, st)
		if !ok {
			return nil, false
		}
		for _, l := range locs[1:] {
			if other, ok := readNumber(s[l[0]:l[1]], st); !ok || other != first {
				return nil, false
			}
		}
	}
	out, ok := readNumber(m, st)
	if !ok {
		return nil, false
	}
	return finishNumber(out, integer)
}

// readNumber reads one run of digits and marks as a canonical number.
func readNumber(m string, st numberStyle) (string, bool) {
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
	intPart, frac, ok := splitDecimal(m, st)
	if !ok || intPart == "" {
		return "", false
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
	return out, true
}

// splitDecimal decides which of '.' and ',' is the decimal mark. Both
// present: the last one is. Repeated marks group thousands ("1.299.000").
// One mark followed by one or two digits is a decimal mark ("29,99"). One
// mark followed by three digits depends on how the page writes numbers:
// declared data and English group with commas and use a decimal point;
// German, Dutch and the like the other way round; a page of unknown
// language gets the web's usual reading of "1,299" and no reading of
// "1.299", which is a guess.
func splitDecimal(m string, st numberStyle) (intPart, frac string, ok bool) {
	dots, commas := strings.Count(m, "."), strings.Count(m, ",")
	last := strings.LastIndexAny(m, ".,")
	switch {
	case dots == 0 && commas == 0:
		return m, "", true
	case dots > 0 && commas > 0:
		return strip(m[:last]), m[last+1:], true
	case dots+commas > 1:
		return strip(m), "", true
	case len(m)-last-1 != 3:
		return m[:last], m[last+1:], true
	}
	comma := commas == 1
	switch {
	case st.declared || dotDecimal[st.base()]:
		if comma {
			return strip(m), "", true
		}
		return m[:last], m[last+1:], true
	case commaDecimal[st.base()]:
		if comma {
			return "", "", false // "1,299" in German is 1.299 or a typo for 1.299,00
		}
		return strip(m), "", true
	case comma:
		return strip(m), "", true
	}
	return "", "", false
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
		for _, neg := range []string{"out of stock", "sold out", "not in stock", "unavailable", "not available", "no longer available", "discontinued",
			"nicht verfügbar", "ausverkauft", "nicht lieferbar", "rupture de stock", "épuisé", "indisponible", "non disponibile", "esaurito", "agotado", "uitverkocht", "niet op voorraad"} {
			if strings.Contains(t, neg) {
				return false, true
			}
		}
		for _, pos := range []string{"in stock", "available", "ships today", "ready to ship",
			"verfügbar", "auf lager", "lieferbar", "en stock", "disponible", "disponibile", "op voorraad"} {
			if strings.Contains(t, pos) {
				return true, true
			}
		}
	}
	return nil, false
}
