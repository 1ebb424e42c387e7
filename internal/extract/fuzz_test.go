package extract

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

// FuzzExtract feeds arbitrary HTML to every output type. Pages come from
// anywhere, so the extractor must never panic, every answer must pass the
// same checks a model's answer would, and every refusal must be an *Error
// the engine can report.
func FuzzExtract(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.html"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<script type="application/ld+json">{"@graph":[{"@id":"a","offers":{"@id":"a"}},{"@id":"a"}]}</script>`))
	f.Add([]byte(`<div itemscope><span itemprop="offers" itemscope><b itemprop="price">1</b></span></div>`))
	f.Add([]byte(`<table><tr><th colspan=99>x</th></tr><tr><td>1</td></tr></table>`))
	json1, err := output.CompileSchema(json.RawMessage(seedSchema))
	if err != nil {
		f.Fatal(err)
	}
	list, err := output.CompileSchema(json.RawMessage(listSchema))
	if err != nil {
		f.Fatal(err)
	}
	cols := []string{"name", "price", "sku"}
	f.Fuzz(func(t *testing.T, html []byte) {
		p := Page{URL: "https://example.com/dir/page", HTML: html}
		for _, s := range []*output.Schema{json1, list} {
			res, err := Extract(p, Request{Type: task.OutputJSON, Schema: s})
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T %v is not an *Error", err, err)
				}
				continue
			}
			if _, err := s.ValidateJSON([]byte(res.Message)); err != nil {
				t.Fatalf("answer %s fails its schema: %v", res.Message, err)
			}
		}
		if res, err := Extract(p, Request{Type: task.OutputCSV, Columns: cols}); err == nil {
			if err := output.CheckCSV(res.Message, cols); err != nil {
				t.Fatalf("CSV answer %q fails CheckCSV: %v", res.Message, err)
			}
		}
		if res, err := Extract(p, Request{Type: task.OutputText}); err == nil {
			if err := output.CheckText(res.Message); err != nil {
				t.Fatalf("text answer %q: %v", res.Message, err)
			}
		}
	})
}
