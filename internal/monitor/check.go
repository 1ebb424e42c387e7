package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

// Limits of a Notify.
const (
	maxWatch   = 100
	maxIgnore  = 50
	maxRules   = 50
	maxPattern = 1000
	// MaxFailuresBeforeAlert bounds Notify.FailuresBeforeAlert.
	MaxFailuresBeforeAlert = 1000
)

// CheckNotify validates n for answers of output type kind whose
// outputSchema is schema (a JSON Schema, or a CSV column list), and
// returns every problem, named by its JSON Pointer in a monitor's body
// (/notify/...): watch and rule paths the schema cannot have, rules on
// values the schema says are not numbers, patterns that do not compile.
// The schema is the task's, already validated.
func CheckNotify(n Notify, kind task.OutputType, schema json.RawMessage) []*FieldError {
	var probs []*FieldError
	add := func(ptr, format string, args ...any) {
		probs = append(probs, &FieldError{Pointer: "/notify" + ptr, Reason: fmt.Sprintf(format, args...)})
	}
	structured := kind == task.OutputJSON || kind == task.OutputCSV
	switch n.On {
	case "", OnChange, OnEveryRun:
	default:
		add("/on", "must be change or every_run")
	}
	switch n.FirstRun {
	case "", FirstRunBaseline, FirstRunNotify:
	default:
		add("/firstRun", "must be baseline or notify")
	}
	if n.FailuresBeforeAlert < 0 || n.FailuresBeforeAlert > MaxFailuresBeforeAlert {
		add("/failuresBeforeAlert", "must be between 1 and %d", MaxFailuresBeforeAlert)
	}

	shape := shapeOf(kind, schema)
	if n.Key != "" {
		switch {
		case !structured:
			add("/key", "applies to structured_json and structured_csv answers only")
		case kind == task.OutputCSV && !slices.Contains(shape.columns, n.Key):
			add("/key", "must be one of the CSV columns (%s)", strings.Join(shape.columns, ", "))
		}
	}
	if len(n.Watch) > 0 && !structured {
		add("/watch", "applies to structured_json and structured_csv answers only; use ignore to leave parts of a text answer out")
	} else if len(n.Watch) > maxWatch {
		add("/watch", "must list at most %d pointers", maxWatch)
	} else {
		for i, w := range n.Watch {
			tokens, err := splitPointer(w)
			if err != nil {
				add(fmt.Sprintf("/watch/%d", i), "%s", err.Error())
				continue
			}
			if at := shape.at(tokens); !at.possible {
				add(fmt.Sprintf("/watch/%d", i), "the output schema has no value at %s", w)
			}
		}
	}
	if len(n.Ignore) > maxIgnore {
		add("/ignore", "must list at most %d patterns", maxIgnore)
	} else {
		for i, pat := range n.Ignore {
			if len(pat) > maxPattern {
				add(fmt.Sprintf("/ignore/%d", i), "must be at most %d characters", maxPattern)
				continue
			}
			if pat == "" {
				add(fmt.Sprintf("/ignore/%d", i), "must not be empty")
				continue
			}
			if _, err := regexp.Compile(pat); err != nil {
				add(fmt.Sprintf("/ignore/%d", i), "must be a regular expression (RE2 syntax): %s", err.Error())
			}
		}
	}
	switch {
	case len(n.Rules) > 0 && !structured:
		add("/rules", "apply to structured_json and structured_csv answers only")
	case len(n.Rules) > maxRules:
		add("/rules", "must list at most %d rules", maxRules)
	default:
		for i, r := range n.Rules {
			for _, p := range checkRule(r, shape) {
				probs = append(probs, &FieldError{Pointer: fmt.Sprintf("/notify/rules/%d%s", i, p.Pointer), Reason: p.Reason})
			}
		}
	}
	return probs
}

// checkRule returns a rule's problems with pointers relative to the rule.
func checkRule(r Rule, shape shape) []*FieldError {
	var probs []*FieldError
	switch r.conditions() {
	case 1:
	case 0:
		return []*FieldError{{"", "must set one of below, above, equals, changeByPercent, changeByAbsolute"}}
	default:
		return []*FieldError{{"", "must set only one of below, above, equals, changeByPercent, changeByAbsolute"}}
	}
	for name, v := range map[string]*float64{"changeByPercent": r.ChangeByPercent, "changeByAbsolute": r.ChangeByAbsolute} {
		if v != nil && *v <= 0 {
			probs = append(probs, &FieldError{"/" + name, "must be greater than 0"})
		}
	}
	var want string // the JSON type the condition needs
	if r.Equals != nil {
		want = scalarType(r.Equals)
		if want == "" {
			probs = append(probs, &FieldError{"/equals", "must be a number, string, boolean or null"})
		}
	} else {
		want = "number"
	}
	tokens, err := splitPointer(r.Path)
	if err != nil {
		return append(probs, &FieldError{"/path", err.Error()})
	}
	if slices.Contains(tokens, Wildcard) && shape.csv {
		return append(probs, &FieldError{"/path", "must name one cell, such as /0/price: a rule watches one value"})
	}
	at := shape.at(tokens)
	switch {
	case !at.possible:
		probs = append(probs, &FieldError{"/path", "the output schema has no value at " + r.Path})
	case at.types != nil && want != "" && !at.allows(want):
		probs = append(probs, &FieldError{"/path", fmt.Sprintf("is %s in the output schema; %s needs %s", strings.Join(at.list(), " or "), r.Condition(), article(want))})
	}
	return probs
}

func article(t string) string {
	if t == "integer" {
		return "an integer"
	}
	return "a " + t
}

// scalarType is the JSON type of a scalar value ("" for objects, arrays
// and invalid JSON).
func scalarType(raw json.RawMessage) string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return ""
	}
	switch v.(type) {
	case json.Number:
		return "number"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return ""
}

// shape is what an output schema says the answer document looks like.
type shape struct {
	csv     bool
	columns []string
	root    any // the decoded JSON Schema
}

func shapeOf(kind task.OutputType, schema json.RawMessage) shape {
	switch kind {
	case task.OutputCSV:
		cols, _ := output.ParseColumns(schema)
		return shape{csv: true, columns: cols}
	case task.OutputJSON:
		var root any
		if err := json.Unmarshal(schema, &root); err != nil {
			root = true
		}
		return shape{root: root}
	}
	return shape{root: true}
}

// place is what the schema says of one pointer: whether a value can be
// there, and its possible JSON types (nil: unknown).
type place struct {
	possible bool
	types    map[string]bool
}

func (p place) allows(t string) bool {
	if t == "number" {
		return p.types["number"] || p.types["integer"]
	}
	if t == "integer" {
		return p.types["integer"] || p.types["number"]
	}
	return p.types[t]
}

func (p place) list() []string {
	out := make([]string, 0, len(p.types))
	for t := range p.types {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

var unknown = place{possible: true}

// at judges a pointer (Wildcard tokens allowed: any array item).
func (s shape) at(tokens []string) place {
	if s.csv {
		switch len(tokens) {
		case 0:
			return place{possible: true, types: map[string]bool{"array": true}}
		case 1:
			if _, ok := index(tokens[0]); ok || tokens[0] == Wildcard {
				return place{possible: true, types: map[string]bool{"object": true}}
			}
			return place{}
		case 2:
			_, isIndex := index(tokens[0])
			if (isIndex || tokens[0] == Wildcard) && slices.Contains(s.columns, tokens[1]) {
				// Cells are text; rules read numbers out of them.
				return unknown
			}
		}
		return place{}
	}
	return schemaAt(s.root, s.root, tokens, 0)
}

// maxSchemaDepth bounds $ref chains and nesting while judging a pointer.
const maxSchemaDepth = 64

// schemaAt walks a JSON Schema along tokens. It is generous where it
// cannot tell (unresolvable $ref, no type): only what the schema surely
// excludes is impossible.
func schemaAt(root, node any, tokens []string, depth int) place {
	if depth > maxSchemaDepth {
		return unknown
	}
	switch n := node.(type) {
	case bool:
		if n {
			return unknown
		}
		return place{}
	case map[string]any:
		return schemaObjectAt(root, n, tokens, depth)
	}
	return unknown
}

func schemaObjectAt(root any, n map[string]any, tokens []string, depth int) place {
	if ref, ok := n["$ref"].(string); ok {
		target, found := refTarget(root, ref)
		if !found {
			return unknown
		}
		p := schemaAt(root, target, tokens, depth+1)
		if !p.possible {
			return p
		}
		// Siblings of $ref (draft 2019+) narrow further; ignore them.
		return p
	}
	for _, comb := range []string{"anyOf", "oneOf", "allOf"} {
		branches, ok := n[comb].([]any)
		if !ok {
			continue
		}
		var out place
		for _, b := range branches {
			p := schemaAt(root, b, tokens, depth+1)
			if !p.possible {
				if comb == "allOf" {
					return place{}
				}
				continue
			}
			out = merge(out, p)
		}
		if !out.possible {
			return place{}
		}
		if comb != "allOf" || out.types != nil {
			return out
		}
	}
	types := declaredTypes(n)
	if len(tokens) == 0 {
		return place{possible: true, types: types}
	}
	tok, rest := tokens[0], tokens[1:]
	canObject := types == nil || types["object"]
	canArray := types == nil || types["array"]
	var out place
	if canObject && tok != Wildcard {
		out = merge(out, propertyAt(root, n, tok, rest, depth))
	}
	if canArray {
		if i, isIndex := index(tok); isIndex || tok == Wildcard {
			out = merge(out, itemAt(root, n, i, tok == Wildcard, rest, depth))
		}
	}
	return out
}

// propertyAt judges member tok of an object schema. Where the schema
// declares properties, they are the answer's members unless it allows
// others explicitly (additionalProperties, patternProperties): answers are
// produced to the declared shape, and a watch or rule path naming a member
// the schema does not declare is almost always a typo. A schema that
// declares no properties allows any member.
func propertyAt(root any, n map[string]any, tok string, rest []string, depth int) place {
	props, declared := n["properties"].(map[string]any)
	if sub, ok := props[tok]; ok {
		return schemaAt(root, sub, rest, depth+1)
	}
	if pats, ok := n["patternProperties"].(map[string]any); ok {
		for pat, sub := range pats {
			if re, err := regexp.Compile(pat); err == nil && re.MatchString(tok) {
				return schemaAt(root, sub, rest, depth+1)
			}
		}
	}
	if ap, ok := n["additionalProperties"]; ok {
		return schemaAt(root, ap, rest, depth+1)
	}
	if declared {
		return place{}
	}
	return unknown
}

func itemAt(root any, n map[string]any, i int, every bool, rest []string, depth int) place {
	if prefix, ok := n["prefixItems"].([]any); ok && !every && i < len(prefix) {
		return schemaAt(root, prefix[i], rest, depth+1)
	}
	switch items := n["items"].(type) {
	case map[string]any, bool:
		return schemaAt(root, items, rest, depth+1)
	case []any: // draft-04 tuples
		if !every && i < len(items) {
			return schemaAt(root, items[i], rest, depth+1)
		}
		if ai, ok := n["additionalItems"]; ok {
			return schemaAt(root, ai, rest, depth+1)
		}
	}
	return unknown
}

// merge is the union of two places.
func merge(a, b place) place {
	switch {
	case !a.possible:
		return b
	case !b.possible:
		return a
	case a.types == nil || b.types == nil:
		return unknown
	}
	t := map[string]bool{}
	for k := range a.types {
		t[k] = true
	}
	for k := range b.types {
		t[k] = true
	}
	return place{possible: true, types: t}
}

// declaredTypes reads "type" (or, without it, const/enum values); nil
// when the schema does not say.
func declaredTypes(n map[string]any) map[string]bool {
	add := func(t map[string]bool, v any) {
		switch v.(type) {
		case float64:
			t["number"] = true
		case string:
			t["string"] = true
		case bool:
			t["boolean"] = true
		case nil:
			t["null"] = true
		case map[string]any:
			t["object"] = true
		case []any:
			t["array"] = true
		}
	}
	switch v := n["type"].(type) {
	case string:
		return map[string]bool{v: true}
	case []any:
		t := map[string]bool{}
		for _, x := range v {
			if s, ok := x.(string); ok {
				t[s] = true
			}
		}
		return t
	}
	if c, ok := n["const"]; ok {
		t := map[string]bool{}
		add(t, c)
		return t
	}
	if e, ok := n["enum"].([]any); ok {
		t := map[string]bool{}
		for _, x := range e {
			add(t, x)
		}
		return t
	}
	return nil
}

// refTarget resolves a local $ref ("#", "#/$defs/x"); remote ones are not
// followed.
func refTarget(root any, ref string) (any, bool) {
	frag, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return nil, false
	}
	tokens, err := splitPointer(frag)
	if err != nil {
		return nil, false
	}
	return resolve(root, tokens)
}
