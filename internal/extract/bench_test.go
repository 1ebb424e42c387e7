package extract

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

// bigCategory is a category page of n product cards inside a few layers of
// layout, the size of a long real listing.
func bigCategory(n int) []byte {
	var b strings.Builder
	b.WriteString(`<html><head><title>All products</title></head><body><main><div class="wrap"><ul class="grid">`)
	for i := range n {
		fmt.Fprintf(&b, `<li class="card" data-sku="SKU-%d"><a href="/p/%d"><img src="/i/%d.jpg"><h3 class="card-title">Product %d</h3></a><div class="meta"><span class="price">$%d.99</span><span class="stock">In stock</span></div><p>Short blurb for product %d with some words.</p></li>`, i, i, i, i, i%500, i)
	}
	b.WriteString(`</ul></div></main></body></html>`)
	return []byte(b.String())
}

// BenchmarkExtractList measures a schema with an array filled from 2,000
// cards (go test -bench ExtractList ./internal/extract).
func BenchmarkExtractList(b *testing.B) {
	page := Page{URL: "https://shop.example/all", HTML: bigCategory(2000)}
	s, err := output.CompileSchema(json.RawMessage(listSchema))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(page.HTML)))
	for b.Loop() {
		res, err := Extract(page, Request{Type: task.OutputJSON, Schema: s})
		if err != nil || !strings.Contains(res.Message, "SKU-1999") {
			b.Fatalf("%v %.200s", err, res.Message)
		}
	}
}

// BenchmarkExtractText measures markdown for the same page.
func BenchmarkExtractText(b *testing.B) {
	page := Page{URL: "https://shop.example/all", HTML: bigCategory(2000)}
	b.SetBytes(int64(len(page.HTML)))
	for b.Loop() {
		if _, err := Extract(page, Request{Type: task.OutputText}); err != nil {
			b.Fatal(err)
		}
	}
}
