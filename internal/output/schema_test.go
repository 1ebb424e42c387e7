package output

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// seedSchema is the "With Structured Output" schema of the webhook seed.
const seedSchema = `{
  "type": "object",
  "properties": {
    "title": { "type": "string" },
    "price": { "type": "number" },
    "inStock": { "type": "boolean" },
    "description": { "type": "string" }
  },
  "required": ["title", "price"],
  "additionalProperties": false
}`

func mustCompile(t *testing.T, raw string) *Schema {
	t.Helper()
	s, err := CompileSchema(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("CompileSchema(%s): %v", raw, err)
	}
	return s
}

func TestCompileSchemaAccepts(t *testing.T) {
	cases := []struct {
		name   string
		schema string
	}{
		{"seed schema", seedSchema},
		{"array of objects", `{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}}}}`},
		{"properties without type", `{"properties":{"name":{"type":"string"}}}`},
		{"nullable object root", `{"type":["object","null"],"properties":{"a":{}}}`},
		{"local ref to $defs", `{"$ref":"#/$defs/p","$defs":{"p":{"type":"object","properties":{"n":{"type":"string"}}}}}`},
		{"recursive local ref", `{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#"}}}}`},
		{"draft-07 by $schema", `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","definitions":{"x":{"type":"string"}},"properties":{"a":{"$ref":"#/definitions/x"}}}`},
		{"draft 2020-12 named", `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"array","items":{"type":"string"}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustCompile(t, tc.schema)
		})
	}
}

func TestCompileSchemaRefuses(t *testing.T) {
	cases := []struct {
		name    string
		schema  string
		want    string // in the message
		pointer string
	}{
		{"empty", ``, "empty", ""},
		{"not JSON", `{"type":`, "not valid JSON", ""},
		{"a string", `"object"`, "must be a JSON Schema object, not a string", ""},
		{"an array", `["title"]`, "must be a JSON Schema object, not an array", ""},
		{"root type string", `{"type":"string"}`, `root type "object" or "array", not "string"`, "/type"},
		{"root unconstrained", `{}`, `root type "object" or "array"`, "/type"},
		{"unknown type name", `{"type":"object","properties":{"price":{"type":"nubmer"}}}`, "not a valid JSON Schema", "/properties/price/type"},
		{"required not a list", `{"type":"object","required":"title"}`, "/required", "/required"},
		{"bad regex", `{"type":"object","properties":{"a":{"type":"string","pattern":"(["}}}`, "is not valid regex", "/properties/a/pattern"},
		{"dangling local ref", `{"type":"object","properties":{"a":{"$ref":"#/$defs/missing"}}}`, `"#/$defs/missing", which it does not define`, ""},
		{"file ref", `{"$ref":"file:///etc/passwd"}`, `refers to "file:///etc/passwd", but references outside the schema are not allowed`, ""},
		{"https ref", `{"type":"object","properties":{"a":{"$ref":"https://example.com/schemas/a.json"}}}`, `refers to "https://example.com/schemas/a.json", but references outside the schema are not allowed`, ""},
		{"relative ref", `{"type":"object","properties":{"a":{"$ref":"other.json#/x"}}}`, `refers to "other.json", but references outside`, ""},
		{"custom metaschema", `{"$schema":"https://example.com/my-meta","type":"object"}`, `refers to "https://example.com/my-meta", but references outside`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileSchema(json.RawMessage(tc.schema))
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("CompileSchema(%s) = %v, want a *SchemaError", tc.schema, err)
			}
			if !strings.Contains(se.Error(), tc.want) {
				t.Errorf("message %q does not say %q", se.Error(), tc.want)
			}
			if strings.Contains(se.Error(), "mem:") {
				t.Errorf("message %q leaks the internal base address", se.Error())
			}
			if tc.pointer != "" && se.Pointer != tc.pointer {
				t.Errorf("Pointer = %q, want %q", se.Pointer, tc.pointer)
			}
		})
	}
}

// TestCompileSchemaNeverFetches points a $ref at a live local server and a
// file that exists, and checks that neither is read.
func TestCompileSchemaNeverFetches(t *testing.T) {
	var hits atomic.Int32
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"type":"string"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })

	for _, ref := range []string{
		"http://" + ln.Addr().String() + "/s.json",
		"file:///etc/hostname",
		"/etc/hostname",
	} {
		t.Run(ref, func(t *testing.T) {
			calls := 0
			raw := `{"type":"object","properties":{"a":{"$ref":"` + ref + `"}}}`
			_, err := compileSchema(json.RawMessage(raw), refusingLoader{calls: &calls})
			if err == nil || !strings.Contains(err.Error(), "references outside the schema are not allowed") {
				t.Fatalf("err = %v, want a refusal", err)
			}
			if calls == 0 {
				t.Error("the loader was never asked: the refusal came from somewhere else")
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the local server was fetched %d times", n)
	}
}

func TestValidate(t *testing.T) {
	s := mustCompile(t, seedSchema)
	cases := []struct {
		name  string
		value string
		want  []string // each must appear; none means valid
	}{
		{"seed ai_response", `{"title":"Product Name","price":29.99,"inStock":true,"description":"A great product"}`, nil},
		{"only required", `{"title":"Product Name","price":29.99}`, nil},
		{"missing price", `{"title":"x"}`, []string{"at the top level: missing property 'price'"}},
		{"price as text", `{"title":"x","price":"29.99"}`, []string{"at /price: got string, want number"}},
		{"extra property", `{"title":"x","price":1,"sku":"A1"}`, []string{"additional properties 'sku' not allowed"}},
		{"several problems", `{"title":3,"price":"1","inStock":"yes"}`, []string{"at /inStock:", "at /price:", "at /title:"}},
		{"array instead of object", `[1]`, []string{"got array, want object"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := DecodeJSON([]byte(tc.value))
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(v)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q does not say %q", err.Error(), w)
				}
			}
			if len(ve.Problems) < len(tc.want) {
				t.Errorf("got %d problems, want at least %d: %v", len(ve.Problems), len(tc.want), ve.Problems)
			}
		})
	}
}

func TestDecodeJSONKeepsNumbersExact(t *testing.T) {
	v, err := DecodeJSON([]byte(`{"big":12345678901234567890,"small":0.1}`))
	if err != nil {
		t.Fatal(err)
	}
	m := v.(map[string]any)
	if m["big"] != json.Number("12345678901234567890") || m["small"] != json.Number("0.1") {
		t.Errorf("numbers changed: %#v", m)
	}
	s := mustCompile(t, `{"type":"object","properties":{"big":{"type":"integer"},"small":{"type":"number"}}}`)
	out, err := s.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"big":12345678901234567890,"small":0.1}` {
		t.Errorf("re-encoded as %s", out)
	}
}

func TestDecodeJSONRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"empty":          ``,
		"truncated":      `{"a":`,
		"trailing value": `{"a":1} {"b":2}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := DecodeJSON([]byte(in)); err == nil {
				t.Fatalf("DecodeJSON(%q) succeeded", in)
			}
		})
	}
}

func TestMarshalFollowsSchemaOrder(t *testing.T) {
	s := mustCompile(t, seedSchema)
	v := map[string]any{"description": "A <great> product", "inStock": true, "price": json.Number("29.99"), "title": "Product Name"}
	out, err := s.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"title":"Product Name","price":29.99,"inStock":true,"description":"A <great> product"}`
	if string(out) != want {
		t.Errorf("Marshal = %s\nwant      %s", out, want)
	}
}

func TestRootIntrospection(t *testing.T) {
	s := mustCompile(t, `{
	  "$defs": {"money": {"type": ["number", "null"]}},
	  "type": "object",
	  "properties": {
	    "zeta": {"type": "string"},
	    "products": {"type": "array", "items": {"type": "object", "properties": {
	      "name": {"type": "string"}, "price": {"$ref": "#/$defs/money"}, "sku": {"type": "string"}},
	      "required": ["name"]}},
	    "alpha": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
	    "status": {"enum": ["InStock", "OutOfStock"]}
	  },
	  "required": ["products"]
	}`)
	root := s.Root()
	var names []string
	for _, p := range root.Properties {
		names = append(names, p.Name)
	}
	if got := strings.Join(names, ","); got != "zeta,products,alpha,status" {
		t.Errorf("properties in order %s, want the schema's order", got)
	}
	products := root.Property("products")
	if products == nil || !products.Required || !products.Schema.Is("array") {
		t.Fatalf("products = %+v, want a required array", products)
	}
	item := products.Schema.Items
	if item == nil || !item.Is("object") || item.Property("name") == nil || !item.Property("name").Required {
		t.Fatalf("products items = %+v, want an object with required name", item)
	}
	if price := item.Property("price"); price == nil || !price.Schema.Is("number") || !price.Schema.Is("null") {
		t.Errorf("price through $ref = %+v, want number or null", price)
	}
	if alpha := root.Property("alpha"); !alpha.Schema.Is("integer") || !alpha.Schema.Is("number") {
		t.Errorf("alpha through anyOf = %+v, want integer", alpha.Schema)
	}
	if st := root.Property("status"); len(st.Schema.Enum) != 2 {
		t.Errorf("status enum = %v", st.Schema.Enum)
	}
}

func TestCheckText(t *testing.T) {
	if err := CheckText("# Title\n\nBody"); err != nil {
		t.Errorf("CheckText(markdown) = %v", err)
	}
	if err := CheckText(" \n\t"); err == nil {
		t.Error("CheckText(blank) accepted an empty answer")
	}
}
