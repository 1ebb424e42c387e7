package output

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Node is a plain view of one place in a schema, with $ref, allOf and the
// first non-null branch of anyOf/oneOf folded in: what code that fills a
// schema (the built-in extractor) or explains it (a model prompt) needs,
// without walking the validator's internals. Validation always uses the full
// compiled schema; Node is never the last word on what is valid.
type Node struct {
	// Types are the JSON types allowed here ("object", "array", "string",
	// "number", "integer", "boolean", "null"), empty when unconstrained. A
	// schema without "type" that has "properties" counts as "object", one
	// with "items" as "array".
	Types       []string
	Title       string
	Description string
	Format      string
	// Properties are in the order the schema declares them.
	Properties []*Property
	Required   []string
	// Closed is set by additionalProperties (or unevaluatedProperties) false:
	// only the declared properties may appear.
	Closed bool
	// Items describes the elements of an array.
	Items *Node
	// Enum lists the allowed values (const counts as a one-value enum).
	Enum []any
}

// Property is one declared property of an object.
type Property struct {
	Name     string
	Schema   *Node
	Required bool
}

// Is reports whether the node allows JSON type t ("number" also allows
// integers: every integer is a number).
func (n *Node) Is(t string) bool {
	if n == nil {
		return false
	}
	if slices.Contains(n.Types, t) {
		return true
	}
	return t == "number" && slices.Contains(n.Types, "integer")
}

// Property returns the declared property called name, or nil.
func (n *Node) Property(name string) *Property {
	if n == nil {
		return nil
	}
	for _, p := range n.Properties {
		if p.Name == name {
			return p
		}
	}
	return nil
}

type nodeBuilder struct {
	nodes map[*jsonschema.Schema]*Node
	// order holds the key order of every object in the raw schema, by JSON
	// pointer: the compiled schema keeps properties in a map, and callers
	// expect their answer's keys in the order they wrote them.
	order map[string][]string
}

func newNodeBuilder(raw []byte) *nodeBuilder {
	b := &nodeBuilder{nodes: map[*jsonschema.Schema]*Node{}, order: map[string][]string{}}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	b.walkOrder(dec, "")
	return b
}

// walkOrder records the key order of each object under ptr. The raw schema
// already decoded once, so a token error only ends the walk early.
func (b *nodeBuilder) walkOrder(dec *json.Decoder, ptr string) bool {
	tok, err := dec.Token()
	if err != nil {
		return false
	}
	switch tok {
	case json.Delim('{'):
		var keys []string
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return false
			}
			k, _ := kt.(string)
			keys = append(keys, k)
			if !b.walkOrder(dec, ptr+pointer([]string{k})) {
				return false
			}
		}
		b.order[ptr] = keys
		_, err = dec.Token()
		return err == nil
	case json.Delim('['):
		for i := 0; dec.More(); i++ {
			if !b.walkOrder(dec, ptr+"/"+strconv.Itoa(i)) {
				return false
			}
		}
		_, err = dec.Token()
		return err == nil
	}
	return true
}

func (b *nodeBuilder) build(sch *jsonschema.Schema) *Node {
	if sch == nil {
		return nil
	}
	if n, ok := b.nodes[sch]; ok {
		return n
	}
	n := &Node{}
	// Registered before filling so that recursive schemas ("$ref": "#")
	// become cycles of nodes instead of endless recursion.
	b.nodes[sch] = n
	b.merge(n, sch, map[*jsonschema.Schema]bool{})
	if len(n.Types) == 0 {
		switch {
		case len(n.Properties) > 0:
			n.Types = []string{"object"}
		case n.Items != nil:
			n.Types = []string{"array"}
		}
	}
	req := map[string]bool{}
	for _, r := range n.Required {
		req[r] = true
	}
	for _, p := range n.Properties {
		p.Required = req[p.Name]
	}
	return n
}

func (b *nodeBuilder) merge(n *Node, sch *jsonschema.Schema, seen map[*jsonschema.Schema]bool) {
	if sch == nil || seen[sch] {
		return
	}
	seen[sch] = true
	if sch.Types != nil && len(n.Types) == 0 {
		n.Types = sch.Types.ToStrings()
	}
	if n.Title == "" {
		n.Title = sch.Title
	}
	if n.Description == "" {
		n.Description = sch.Description
	}
	if n.Format == "" && sch.Format != nil {
		n.Format = sch.Format.Name
	}
	for _, name := range b.propertyOrder(sch) {
		if n.Property(name) == nil {
			n.Properties = append(n.Properties, &Property{Name: name, Schema: b.build(sch.Properties[name])})
		}
	}
	for _, r := range sch.Required {
		if !slices.Contains(n.Required, r) {
			n.Required = append(n.Required, r)
		}
	}
	if ap, ok := sch.AdditionalProperties.(bool); ok && !ap {
		n.Closed = true
	}
	if up := sch.UnevaluatedProperties; up != nil && up.Bool != nil && !*up.Bool {
		n.Closed = true
	}
	if n.Items == nil {
		switch {
		case sch.Items2020 != nil:
			n.Items = b.build(sch.Items2020)
		default:
			if it, ok := sch.Items.(*jsonschema.Schema); ok {
				n.Items = b.build(it)
			}
		}
	}
	if n.Enum == nil {
		switch {
		case sch.Const != nil:
			n.Enum = []any{*sch.Const}
		case sch.Enum != nil:
			n.Enum = sch.Enum.Values
		}
	}
	b.merge(n, sch.Ref, seen)
	for _, s := range sch.AllOf {
		b.merge(n, s, seen)
	}
	for _, alts := range [][]*jsonschema.Schema{sch.AnyOf, sch.OneOf} {
		for _, s := range alts {
			if isNullOnly(s) {
				if !slices.Contains(n.Types, "null") && len(n.Types) > 0 {
					n.Types = append(n.Types, "null")
				}
				continue
			}
			b.merge(n, s, seen)
			break
		}
	}
}

func isNullOnly(s *jsonschema.Schema) bool {
	return s != nil && s.Types != nil && slices.Equal(s.Types.ToStrings(), []string{"null"})
}

// propertyOrder returns sch's property names in the order the caller wrote
// them, or sorted when that order is unknown (a sub-schema with its own $id).
func (b *nodeBuilder) propertyOrder(sch *jsonschema.Schema) []string {
	if len(sch.Properties) == 0 {
		return nil
	}
	var names []string
	if strings.HasPrefix(sch.Location, schemaURL+"#") {
		for _, k := range b.order[fragment(sch.Location)+"/properties"] {
			if _, ok := sch.Properties[k]; ok && !slices.Contains(names, k) {
				names = append(names, k)
			}
		}
	}
	if len(names) == len(sch.Properties) {
		return names
	}
	var rest []string
	for k := range sch.Properties {
		if !slices.Contains(names, k) {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	return append(names, rest...)
}
