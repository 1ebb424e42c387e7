package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The tools' input schemas are the API's request schemas, taken from
// openapi.json (which the API's tests hold to what its decoder accepts),
// so that a tool takes exactly what the endpoint behind it takes. MCP
// clients show a tool's schema to a model, which reads a flat object best:
// references are inlined and allOf merged into one object.

// openAPI is what the tools' schemas are made of: the API's OpenAPI
// document's component schemas and operations.
type openAPI struct {
	schemas openAPISchemas
	paths   map[string]map[string]json.RawMessage // path -> method (or "parameters") -> its object
}

// openAPISchemas are the component schemas of the API's OpenAPI document.
type openAPISchemas map[string]any

func parseOpenAPI(doc []byte) (*openAPI, error) {
	var d struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("openapi.json: %w", err)
	}
	return &openAPI{schemas: d.Components.Schemas, paths: d.Paths}, nil
}

// bodySchema is the request body schema of a component, name, as a
// self-contained JSON Schema object, with the tool's extra properties.
func (o *openAPI) bodySchema(name string, extra map[string]any) (map[string]any, error) {
	v, err := o.schemas.resolve(map[string]any{"$ref": "#/components/schemas/" + name}, nil)
	if err != nil {
		return nil, err
	}
	out, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema %s is not an object", name)
	}
	return withExtra(out, extra), nil
}

// paramsSchema is the parameters (path and query) of the operation method
// path as one JSON Schema object, a property each.
func (o *openAPI) paramsSchema(method, path string, extra map[string]any) (map[string]any, error) {
	item, ok := o.paths[path]
	if !ok || item[method] == nil {
		return nil, fmt.Errorf("openapi.json has no %s %s", method, path)
	}
	type param struct {
		Name        string         `json:"name"`
		In          string         `json:"in"`
		Required    bool           `json:"required"`
		Description string         `json:"description"`
		Schema      map[string]any `json:"schema"`
	}
	var params []param
	for _, raw := range []json.RawMessage{item["parameters"], item[method]} {
		var p struct {
			Parameters []param `json:"parameters"`
		}
		if raw == nil {
			continue
		}
		var err error
		if bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
			err = json.Unmarshal(raw, &p.Parameters)
		} else {
			err = json.Unmarshal(raw, &p)
		}
		if err != nil {
			return nil, fmt.Errorf("openapi.json: %s %s parameters: %w", method, path, err)
		}
		params = append(params, p.Parameters...)
	}
	props, required := map[string]any{}, []any{}
	for _, p := range params {
		if p.In != "path" && p.In != "query" {
			continue
		}
		v, err := o.schemas.resolve(p.Schema, nil)
		if err != nil {
			return nil, err
		}
		ps, _ := v.(map[string]any)
		if ps == nil {
			ps = map[string]any{}
		}
		if p.Description != "" {
			ps["description"] = p.Description
		}
		props[p.Name] = ps
		if p.Required {
			required = append(required, p.Name)
		}
	}
	return withExtra(map[string]any{"properties": props, "required": required}, extra), nil
}

func withExtra(out, extra map[string]any) map[string]any {
	out["type"] = "object"
	if len(extra) > 0 {
		props, _ := out["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
		}
		maps.Copy(props, extra)
		out["properties"] = props
	}
	return out
}

// openAPIOnly are keywords of OpenAPI, not of JSON Schema.
var openAPIOnly = map[string]bool{"discriminator": true, "xml": true, "externalDocs": true, "example": true}

// literal are keywords whose values are JSON values, not schemas.
var literal = map[string]bool{"default": true, "const": true, "enum": true, "examples": true}

// resolve returns v with its references inlined and its allOf merged;
// seen holds the references being inlined, to refuse a cycle.
func (s openAPISchemas) resolve(v any, seen []string) (any, error) {
	switch v := v.(type) {
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := s.resolve(e, seen)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if ref, ok := v["$ref"].(string); ok {
			name, ok := strings.CutPrefix(ref, "#/components/schemas/")
			target, found := s[name]
			if !ok || !found {
				return nil, fmt.Errorf("unknown reference %s", ref)
			}
			if slices.Contains(seen, name) {
				return nil, fmt.Errorf("recursive schema %s cannot be inlined", name)
			}
			r, err := s.resolve(target, append(seen, name))
			if err != nil {
				return nil, err
			}
			rest := maps.Clone(v)
			delete(rest, "$ref")
			// Keywords beside a reference (a description) refine it.
			rr, err := s.resolve(rest, seen)
			if err != nil {
				return nil, err
			}
			return merge(r, rr), nil
		}
		out := map[string]any{}
		var parts []any
		for k, e := range v {
			switch {
			case openAPIOnly[k] || strings.HasPrefix(k, "x-"):
			case k == "allOf":
				parts, _ = e.([]any)
			case literal[k]:
				out[k] = e
			default:
				r, err := s.resolve(e, seen)
				if err != nil {
					return nil, err
				}
				out[k] = r
			}
		}
		if len(parts) == 0 {
			return out, nil
		}
		var merged any = map[string]any{}
		for _, p := range parts {
			rp, err := s.resolve(p, seen)
			if err != nil {
				return nil, err
			}
			merged = merge(merged, rp)
		}
		return merge(merged, out), nil
	}
	return v, nil
}

// merge is resolved schema a refined by resolved schema b: b's keywords
// win, except that properties are merged one by one and required lists
// are joined.
func merge(a, b any) any {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if !aok || !bok {
		return b
	}
	out := maps.Clone(am)
	for k, bv := range bm {
		switch k {
		case "properties":
			props := map[string]any{}
			if ap, ok := out[k].(map[string]any); ok {
				maps.Copy(props, ap)
			}
			for name, p := range bv.(map[string]any) {
				if old, ok := props[name]; ok {
					p = merge(old, p)
				}
				props[name] = p
			}
			out[k] = props
		case "required":
			have, _ := out[k].([]any)
			req := slices.Clone(have)
			for _, r := range bv.([]any) {
				if !slices.Contains(req, r) {
					req = append(req, r)
				}
			}
			out[k] = req
		default:
			out[k] = bv
		}
	}
	return out
}
