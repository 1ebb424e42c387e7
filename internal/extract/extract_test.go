package extract

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/errandhq/errand/internal/output"
	"github.com/errandhq/errand/internal/task"
)

var update = flag.Bool("update", false, "rewrite the golden markdown files in testdata/")

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

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func compile(t *testing.T, raw string) *output.Schema {
	t.Helper()
	s, err := output.CompileSchema(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("CompileSchema: %v", err)
	}
	return s
}

// sameJSON compares two JSON texts as values, so 34.50 equals 34.5.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	return reflect.DeepEqual(g, w)
}

func TestSeedSchemaFromProductPages(t *testing.T) {
	schema := compile(t, seedSchema)
	cases := []struct {
		name    string
		fixture string
		url     string
		want    string
	}{
		{
			name:    "JSON-LD with offers, beside Organization and BreadcrumbList",
			fixture: "product-jsonld.html",
			url:     "https://shop.example.com/chairs/ergo-office-chair-pro",
			want:    `{"title":"Ergo Office Chair Pro","price":1299.99,"inStock":true,"description":"A fully adjustable mesh office chair with lumbar support and 4D armrests."}`,
		},
		{
			name:    "microdata only, decimal comma shown, content attribute exact",
			fixture: "product-microdata.html",
			url:     "https://peakstep.example/shoes/trail-runner-2",
			want:    `{"title":"Trail Runner 2","price":89.95,"inStock":false,"description":"Lightweight trail shoe with a grippy outsole and a rock plate for rough ground."}`,
		},
		{
			name:    "OpenGraph and product meta tags only",
			fixture: "product-opengraph.html",
			url:     "https://clayhouse.example/products/mug-blue",
			want:    `{"title":"Handmade Ceramic Mug - Blue Glaze","price":34.5,"inStock":true,"description":"A 350 ml stoneware mug, wheel-thrown and glazed by hand in our studio."}`,
		},
		{
			name:    "@graph with the offer referenced by @id",
			fixture: "product-graph.html",
			url:     "https://kaffee.example/p/espressokocher",
			want:    `{"title":"Espressokocher Classic 6 Tassen","price":29.99,"inStock":false,"description":"Der klassische Espressokocher aus Aluminium für sechs Tassen, für alle Herdarten außer Induktion."}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Extract(Page{URL: tc.url, HTML: fixture(t, tc.fixture)}, Request{Type: task.OutputJSON, Schema: schema})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if !sameJSON(t, res.Message, tc.want) {
				t.Errorf("got  %s\nwant %s", res.Message, tc.want)
			}
			// The message keeps the schema's key order, as the seed shows it.
			if !strings.HasPrefix(res.Message, `{"title":`) || strings.Index(res.Message, `"price"`) > strings.Index(res.Message, `"description"`) {
				t.Errorf("keys not in schema order: %s", res.Message)
			}
			if err := schema.Validate(res.Value); err != nil {
				t.Errorf("Value does not validate: %v", err)
			}
			again, _ := output.DecodeJSON([]byte(res.Message))
			if !reflect.DeepEqual(again, res.Value) {
				t.Errorf("Value %#v is not the decoded Message %#v", res.Value, again)
			}
		})
	}
}

func TestRequiredMissing(t *testing.T) {
	schema := compile(t, seedSchema)
	cases := []struct {
		name    string
		html    string
		missing []string
		says    []string
	}{
		{
			name:    "news article has no price",
			html:    string(fixture(t, "article.html")),
			missing: []string{"price"},
			says:    []string{`the page does not give the required property "price"`},
		},
		{
			name:    "category page: prices of list items are not the page's price",
			html:    string(fixture(t, "category.html")),
			missing: []string{"price"},
			says:    []string{`required property "price"`},
		},
		{
			name:    "nothing declared at all",
			html:    `<html><body><div>hello</div></body></html>`,
			missing: []string{"price", "title"},
			says:    []string{`required properties "title" and "price"`},
		},
		{
			name:    "structured data and the shown price disagree",
			html:    `<html><head><script type="application/ld+json">{"@type":"Product","name":"Lamp","offers":{"price":"129.00"}}</script></head><body><main><h1>Lamp</h1><span class="price">$99.00</span></main></body></html>`,
			missing: []string{"price"},
			says:    []string{`different values for the required property "price" ("129.00" and "99.00"), and neither is clearly the field`},
		},
		{
			name:    "a price that is not a number",
			html:    `<html><head><title>Vintage lamp</title></head><body><h1>Vintage lamp</h1><span class="price">Call for price</span></body></html>`,
			missing: []string{"price"},
			says:    []string{`"price" (found "Call for price", which is not a number)`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Extract(Page{URL: "https://example.com/p", HTML: []byte(tc.html)}, Request{Type: task.OutputJSON, Schema: schema})
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Extract = %q, %v; want an *Error", res.Message, err)
			}
			if e.Code() != task.CodeOutputInvalid {
				t.Errorf("Code = %s", e.Code())
			}
			if !reflect.DeepEqual(e.Missing, tc.missing) {
				t.Errorf("Missing = %q, want %q", e.Missing, tc.missing)
			}
			for _, s := range tc.says {
				if !strings.Contains(e.Error(), s) {
					t.Errorf("message %q does not say %q", e.Error(), s)
				}
			}
		})
	}
}

func TestNeverInventsOptionalValues(t *testing.T) {
	schema := compile(t, seedSchema)
	page := `<html><head><title>Desk lamp</title></head><body><main><h1>Desk lamp</h1><p class="price">€ 45,00</p></main></body></html>`
	res, err := Extract(Page{URL: "https://example.com/lamp", HTML: []byte(page)}, Request{Type: task.OutputJSON, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, res.Message, `{"title":"Desk lamp","price":45}`) {
		t.Errorf("got %s; want only what the page shows", res.Message)
	}
}

const listSchema = `{
  "type": "object",
  "properties": {
    "products": {
      "type": "array",
      "items": {
        "type": "object",
        "properties": {
          "name": {"type": "string"},
          "price": {"type": "number"},
          "sku": {"type": "string"},
          "inStock": {"type": "boolean"},
          "url": {"type": "string"}
        },
        "required": ["name", "price"],
        "additionalProperties": false
      }
    }
  },
  "required": ["products"]
}`

func TestArraysFromRepeatedLists(t *testing.T) {
	cases := []struct {
		name    string
		schema  string
		fixture string
		url     string
		want    string
	}{
		{
			name:    "product cards into an array property",
			schema:  listSchema,
			fixture: "category.html",
			url:     "https://clickety.example/keyboards",
			want: `{"products":[
			  {"name":"Tenkeyless Brown","price":89,"sku":"KB-101","inStock":true,"url":"https://clickety.example/p/kb-101"},
			  {"name":"Full Size Red, \"Office\" Edition","price":1049.5,"sku":"KB-102","inStock":false,"url":"https://clickety.example/p/kb-102"},
			  {"name":"Compact 60% Blue","price":59.99,"sku":"KB-103","inStock":true,"url":"https://clickety.example/p/kb-103"},
			  {"name":"Split Ergo","price":199,"sku":"KB-104","inStock":true,"url":"https://clickety.example/p/kb-104"}]}`,
		},
		{
			name:    "root array from product cards",
			schema:  `{"type":"array","items":{"type":"object","properties":{"title":{"type":"string"},"cost":{"type":"number"}},"required":["title","cost"]}}`,
			fixture: "category.html",
			url:     "https://clickety.example/keyboards",
			want: `[{"title":"Tenkeyless Brown","cost":89},{"title":"Full Size Red, \"Office\" Edition","cost":1049.5},
			  {"title":"Compact 60% Blue","cost":59.99},{"title":"Split Ergo","cost":199}]`,
		},
		{
			name:    "table rows into objects",
			schema:  `{"type":"object","properties":{"peaks":{"type":"array","items":{"type":"object","properties":{"mountain":{"type":"string"},"height":{"type":"integer"},"firstAscent":{"type":"integer"}},"required":["mountain","height"]}}}}`,
			fixture: "table.html",
			url:     "https://wiki.example/Alps",
			want: `{"peaks":[{"mountain":"Mont Blanc","height":4806,"firstAscent":1786},{"mountain":"Dufourspitze","height":4634,"firstAscent":1855},
			  {"mountain":"Nordend","height":4609,"firstAscent":1861},{"mountain":"Zumsteinspitze","height":4563,"firstAscent":1820},
			  {"mountain":"Signalkuppe","height":4554,"firstAscent":1842},{"mountain":"Dom","height":4545,"firstAscent":1858}]}`,
		},
		{
			name:    "array of strings from a product's JSON-LD",
			schema:  `{"type":"object","properties":{"name":{"type":"string"},"images":{"type":"array","items":{"type":"string"}},"rating":{"type":"number"},"reviewCount":{"type":"integer"},"brand":{"type":"string"}}}`,
			fixture: "product-jsonld.html",
			url:     "https://shop.example.com/chairs/ergo-office-chair-pro",
			want:    `{"name":"Ergo Office Chair Pro","images":["https://shop.example.com/img/ergo-pro-1.jpg","https://shop.example.com/img/ergo-pro-2.jpg"],"rating":4.6,"reviewCount":1284,"brand":"Seatwise"}`,
		},
		{
			name:    "nested object from JSON-LD offers",
			schema:  `{"type":"object","properties":{"name":{"type":"string"},"offer":{"type":"object","properties":{"price":{"type":"number"},"currency":{"type":"string"},"availability":{"enum":["InStock","OutOfStock"]}},"required":["price"]}},"required":["offer"]}`,
			fixture: "product-graph.html",
			url:     "https://kaffee.example/p/espressokocher",
			want:    `{"name":"Espressokocher Classic 6 Tassen","offer":{"price":29.99,"currency":"EUR"}}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			schema := compile(t, tc.schema)
			res, err := Extract(Page{URL: tc.url, HTML: fixture(t, tc.fixture)}, Request{Type: task.OutputJSON, Schema: schema})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if !sameJSON(t, res.Message, tc.want) {
				t.Errorf("got  %s\nwant %s", res.Message, tc.want)
			}
		})
	}
}

func TestCSV(t *testing.T) {
	cases := []struct {
		name    string
		fixture string
		url     string
		columns []string
		want    string
	}{
		{
			name:    "main table, headers matched by words",
			fixture: "table.html",
			url:     "https://wiki.example/Alps",
			columns: []string{"mountain", "height", "country"},
			want: "mountain,height,country\n" +
				"Mont Blanc,\"4,806\",\"France, Italy\"\n" +
				"Dufourspitze,\"4,634\",Switzerland\n" +
				"Nordend,\"4,609\",\"Switzerland, Italy\"\n" +
				"Zumsteinspitze,\"4,563\",\"Switzerland, Italy\"\n" +
				"Signalkuppe,\"4,554\",\"Switzerland, Italy\"\n" +
				"Dom,\"4,545\",Switzerland\n",
		},
		{
			name:    "a column the table lacks stays empty",
			fixture: "table.html",
			url:     "https://wiki.example/Alps",
			columns: []string{"Rank", "Mountain", "elevation"},
			want: "Rank,Mountain,elevation\n1,Mont Blanc,\n2,Dufourspitze,\n3,Nordend,\n" +
				"4,Zumsteinspitze,\n5,Signalkuppe,\n6,Dom,\n",
		},
		{
			name:    "repeated product list",
			fixture: "category.html",
			url:     "https://clickety.example/keyboards",
			columns: []string{"name", "price", "sku", "url"},
			want: "name,price,sku,url\n" +
				"Tenkeyless Brown,$89.00,KB-101,https://clickety.example/p/kb-101\n" +
				"\"Full Size Red, \"\"Office\"\" Edition\",\"$1,049.50\",KB-102,https://clickety.example/p/kb-102\n" +
				"Compact 60% Blue,$59.99,KB-103,https://clickety.example/p/kb-103\n" +
				"Split Ergo,$199.00,KB-104,https://clickety.example/p/kb-104\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Extract(Page{URL: tc.url, HTML: fixture(t, tc.fixture)}, Request{Type: task.OutputCSV, Columns: tc.columns})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			if res.Message != tc.want {
				t.Errorf("got\n%s\nwant\n%s", res.Message, tc.want)
			}
			if err := output.CheckCSV(res.Message, tc.columns); err != nil {
				t.Errorf("CheckCSV: %v", err)
			}
		})
	}
	t.Run("no table or list has a requested column", func(t *testing.T) {
		_, err := Extract(Page{URL: "https://gazette.example/a", HTML: fixture(t, "article.html")}, Request{Type: task.OutputCSV, Columns: []string{"isbn", "publisherCode"}})
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(e.Error(), "no table or repeated list with any of the columns isbn, publisherCode") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTextMarkdown(t *testing.T) {
	cases := []struct {
		name     string
		fixture  string
		url      string
		contains []string
		absent   []string
	}{
		{
			name:    "news article",
			fixture: "article.html",
			url:     "https://gazette.example/news/2026/cycle-lanes",
			contains: []string{
				"# City council approves new cycle lanes\n",
				"The city council voted 31 to 12",
				"## What changes for drivers",
				"- the former bus depot on Mill Road",
				"[national transport grant](https://gazette.example/news/2025/transport-grant)",
			},
			absent: []string{"trackingPixelSecret", "do-not-leak", "track(", "font-family", "Subscribe", "Most read", "Privacy", "Advertisement"},
		},
		{
			name:     "table page",
			fixture:  "table.html",
			url:      "https://wiki.example/Alps",
			contains: []string{"# Highest mountains of the Alps", "| Rank | Mountain", "| 1    | [Mont Blanc]", "[Mont Blanc](https://wiki.example/wiki/Mont_Blanc)"},
		},
		{
			name:     "product page",
			fixture:  "product-jsonld.html",
			url:      "https://shop.example.com/chairs/ergo-office-chair-pro",
			contains: []string{"# Ergo Office Chair Pro", "lumbar support"},
			absent:   []string{"dataLayer", "view_item"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Extract(Page{URL: tc.url, HTML: fixture(t, tc.fixture)}, Request{Type: task.OutputText})
			if err != nil {
				t.Fatalf("Extract: %v", err)
			}
			for _, s := range tc.contains {
				if !strings.Contains(res.Message, s) {
					t.Errorf("markdown lacks %q", s)
				}
			}
			for _, s := range tc.absent {
				if strings.Contains(res.Message, s) {
					t.Errorf("markdown contains %q", s)
				}
			}
			golden := filepath.Join("testdata", strings.TrimSuffix(tc.fixture, ".html")+".md")
			if *update {
				if err := os.WriteFile(golden, []byte(res.Message), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if res.Message != string(want) {
				t.Errorf("markdown drifted from %s (go test -update rewrites it):\n%s", golden, res.Message)
			}
		})
	}
	t.Run("page without an article falls back to the body", func(t *testing.T) {
		page := `<html><head><title>Status</title></head><body><nav><a href="/">Home</a></nav><p>All systems operational.</p><script>alert(1)</script></body></html>`
		res, err := Extract(Page{URL: "https://status.example/", HTML: []byte(page)}, Request{Type: task.OutputText})
		if err != nil {
			t.Fatal(err)
		}
		if res.Message != "# Status\n\nAll systems operational.\n" {
			t.Errorf("got %q", res.Message)
		}
	})
	t.Run("empty page is an error", func(t *testing.T) {
		_, err := Extract(Page{URL: "https://blank.example/", HTML: []byte(`<html><body><script>x()</script></body></html>`)}, Request{Type: task.OutputText})
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("err = %v, want an *Error", err)
		}
	})
}

func TestArticleSchema(t *testing.T) {
	schema := compile(t, `{"type":"object","properties":{
	  "headline":{"type":"string"},"author":{"type":"string"},"published":{"type":"string"},
	  "summary":{"type":"string"},"body":{"type":"string"}},
	  "required":["headline","author","body"],"additionalProperties":false}`)
	res, err := Extract(Page{URL: "https://gazette.example/news/2026/cycle-lanes", HTML: fixture(t, "article.html")}, Request{Type: task.OutputJSON, Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Value.(map[string]any)
	want := map[string]string{
		"headline":  "City council approves new cycle lanes",
		"author":    "Maria Okafor",
		"published": "2026-03-04T09:30:00Z",
		"summary":   "Twelve kilometres of protected lanes will be built by 2027.",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	body, _ := m["body"].(string)
	if !strings.Contains(body, "The city council voted 31 to 12") || !strings.Contains(body, "no more than one block is closed at a time") {
		t.Errorf("body is not the article text: %.200q", body)
	}
	for _, junk := range []string{"do-not-leak", "Most read", "Subscribe"} {
		if strings.Contains(body, junk) {
			t.Errorf("body contains %q", junk)
		}
	}
}
