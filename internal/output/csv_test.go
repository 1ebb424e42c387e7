package output

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseColumns(t *testing.T) {
	cases := []struct {
		name  string
		raw   string
		want  []string
		index int    // of the error, when want is nil
		msg   string // in the error
	}{
		{name: "names", raw: `["name","price","sku"]`, want: []string{"name", "price", "sku"}},
		{name: "one column", raw: `["url"]`, want: []string{"url"}},
		{name: "comma inside a name", raw: `["name, full","price"]`, want: []string{"name, full", "price"}},
		{name: "empty", raw: ``, index: -1, msg: "empty"},
		{name: "object", raw: `{"name":"string"}`, index: -1, msg: "must be an array of column names"},
		{name: "no columns", raw: `[]`, index: -1, msg: "at least one column"},
		{name: "number", raw: `["name",3]`, index: 1, msg: "column 1 must be a string, not 3"},
		{name: "null", raw: `["name",null]`, index: 1, msg: "column 1 must be a string, not null"},
		{name: "empty name", raw: `["name",""]`, index: 1, msg: "column 1 has an empty name"},
		{name: "blank name", raw: `["  ","name"]`, index: 0, msg: "column 0 has an empty name"},
		{name: "duplicate", raw: `["name","price","name"]`, index: 2, msg: `column 2 ("name") repeats column 0`},
		{name: "line break", raw: `["a\nb"]`, index: 0, msg: "line break"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseColumns(json.RawMessage(tc.raw))
			if tc.want != nil {
				if err != nil {
					t.Fatalf("ParseColumns: %v", err)
				}
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				return
			}
			var ce *ColumnsError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseColumns(%s) = %v, %v; want a *ColumnsError", tc.raw, got, err)
			}
			if ce.Index != tc.index || !strings.Contains(ce.Error(), tc.msg) {
				t.Errorf("error %q at index %d; want %q at %d", ce.Error(), ce.Index, tc.msg, tc.index)
			}
		})
	}
}

func TestFormatCSV(t *testing.T) {
	got := FormatCSV([]string{"name", "price", "notes"}, [][]string{
		{"Widget, large", "$1,299.99", `says "hi"`},
		{"Gadget", "5"},
		{"Multi\nline", "1", "x", "dropped"},
	})
	want := "name,price,notes\n" +
		"\"Widget, large\",\"$1,299.99\",\"says \"\"hi\"\"\"\n" +
		"Gadget,5,\n" +
		"\"Multi\nline\",1,x\n"
	if got != want {
		t.Errorf("FormatCSV =\n%s\nwant\n%s", got, want)
	}
	if err := CheckCSV(got, []string{"name", "price", "notes"}); err != nil {
		t.Errorf("CheckCSV(FormatCSV(...)) = %v", err)
	}
}

func TestCheckCSV(t *testing.T) {
	cols := []string{"name", "price"}
	cases := []struct {
		name string
		text string
		msg  string // empty: valid
	}{
		{"header only", "name,price\n", ""},
		{"rows", "name,price\nWidget,9.99\n\"Gadget, big\",\"1,299\"\n", ""},
		{"no final newline", "name,price\nWidget,9.99", ""},
		{"CRLF", "name,price\r\nWidget,9.99\r\n", ""},
		{"empty", "", "the answer is empty"},
		{"wrong header", "title,price\nWidget,9.99\n", `the header row is "title,price"; want exactly "name,price"`},
		{"header case differs", "Name,Price\n", "want exactly"},
		{"header missing a column", "name\nWidget\n", "want exactly"},
		{"short row", "name,price\nWidget,9.99\nGadget\n", "CSV line 3: has 1 cells; want 2 (name, price)"},
		{"long row", "name,price\nWidget,9.99,extra\n", "CSV line 2: has 3 cells"},
		{"bare quote", "name,price\nWid\"get,9.99\n", `CSV line 2: column 4: bare " in non-quoted-field`},
		{"unterminated quote", "name,price\n\"Widget,9.99\n", "extraneous or missing \" in quoted-field"},
		{"markdown fence", "```csv\nname,price\n```", "want exactly"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCSV(tc.text, cols)
			if tc.msg == "" {
				if err != nil {
					t.Fatalf("CheckCSV: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckCSV accepted %q", tc.text)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not say %q", err.Error(), tc.msg)
			}
		})
	}
}
