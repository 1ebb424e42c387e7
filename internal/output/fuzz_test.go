package output

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// FuzzCompileSchema feeds arbitrary schemas to the compiler. It must never
// panic, every failure must be a *SchemaError, and whenever the refusing
// loader was asked for an outside document the compile must have failed:
// nothing outside the schema can ever make it in.
func FuzzCompileSchema(f *testing.F) {
	for _, s := range []string{
		seedSchema,
		`{"$ref":"file:///etc/passwd"}`,
		`{"$ref":"https://example.com/s.json"}`,
		`{"$schema":"https://example.com/meta","type":"object"}`,
		`{"type":"array","items":{"$ref":"#/$defs/x"},"$defs":{"x":{"type":"string"}}}`,
		`{"$id":"https://example.com/root","type":"object","properties":{"a":{"$ref":"b"}}}`,
		`{"properties":{"a":{"$dynamicRef":"#x"}}}`,
		`{"type":"object","properties":{"a":{"pattern":"(a+)+$"}}}`,
		`{"type":["object","array"],"prefixItems":[{}],"items":false}`,
		`true`, `null`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		calls := 0
		s, err := compileSchema(raw, refusingLoader{calls: &calls})
		if err != nil {
			var se *SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("error %T %v is not a *SchemaError", err, err)
			}
			if se.Reason == "" {
				t.Fatal("empty reason")
			}
			return
		}
		if calls > 0 {
			t.Fatalf("compiled although the loader was asked %d times", calls)
		}
		root := s.Root()
		if !root.Is("object") && !root.Is("array") {
			t.Fatalf("compiled a root of types %v", root.Types)
		}
		// Validating and marshalling anything must not panic either.
		if v, err := DecodeJSON(raw); err == nil {
			_ = s.Validate(v)
			if _, err := s.Marshal(v); err != nil {
				t.Fatalf("Marshal of decoded JSON: %v", err)
			}
		}
	})
}

// FuzzCheckCSV checks that CheckCSV never panics and that what it accepts
// survives a round trip: re-encoded with FormatCSV and checked again, the
// same rows come back.
func FuzzCheckCSV(f *testing.F) {
	f.Add("name,price\nWidget,9.99\n", "name,price")
	f.Add("name,price\n\"a,b\",\"1\"\"2\"\n", "name,price")
	f.Add("a\n\n\nb\n", "a")
	f.Add("x,y\r\n1,2\r\n", "x,y")
	f.Add("\"unterminated\n", "a")
	f.Fuzz(func(t *testing.T, text, header string) {
		cols := strings.Split(header, ",")
		rows, err := ParseCSV(text, cols)
		if err != nil {
			var ce *CSVError
			if !errors.As(err, &ce) {
				t.Fatalf("error %T %v is not a *CSVError", err, err)
			}
			return
		}
		again := FormatCSV(cols, rows)
		rows2, err := ParseCSV(again, cols)
		if err != nil {
			t.Fatalf("re-encoded CSV %q refused: %v", again, err)
		}
		if !slices.EqualFunc(rows, rows2, slices.Equal) {
			t.Fatalf("round trip changed rows: %q -> %q", rows, rows2)
		}
	})
}

// FuzzParseColumns checks that accepted column lists are what CheckCSV then
// expects as a header.
func FuzzParseColumns(f *testing.F) {
	f.Add([]byte(`["name","price"]`))
	f.Add([]byte(`["a","a"]`))
	f.Add([]byte(`[1,"",null]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		cols, err := ParseColumns(json.RawMessage(raw))
		if err != nil {
			return
		}
		if err := CheckCSV(FormatCSV(cols, nil), cols); err != nil {
			t.Fatalf("columns %q: header of FormatCSV refused: %v", cols, err)
		}
	})
}
