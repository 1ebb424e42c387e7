package extract

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/errandhq/errand/internal/output"
)

func TestToNumber(t *testing.T) {
	cases := []struct {
		in      any
		integer bool
		want    string // "" means refused
		lang    string // the page's language, "" unknown
	}{
		{"$1,299.99", false, "1299.99", ""},
		{"29,99 €", false, "29.99", ""},
		{"29.99 USD", false, "29.99", ""},
		{"EUR 1.299,00", false, "1299.00", ""},
		{"1 299,50 kr", false, "1299.50", ""},
		{"CHF 1'250.–", false, "1250", ""},
		{"1.299.000", false, "1299000", ""},
		{"4.5 out of 5", false, "4.5", ""},
		{"-3.25", false, "-3.25", ""},
		{"007", false, "7", ""},
		{json.Number("1299.99"), false, "1299.99", ""},
		{json.Number("1e3"), false, "1e3", ""},
		{"1,284 reviews", true, "1284", ""},
		{"4.0", true, "4", ""},
		{"4.5", true, "", ""},
		{json.Number("1e3"), true, "", ""},
		{"Call for price", false, "", ""},
		{"", false, "", ""},
		{true, false, "", ""},
		// Two amounts are one value only when one of them is named as not
		// the value: a former price, a saving, a threshold, a percentage.
		{"$140.00 $98.00", false, "", ""},
		{"Was $160.00 Now $112.00", false, "112.00", ""},
		{"£39.99 You save £10.00 (20%)", false, "39.99", ""},
		{"UVP 59,90 € 44,90 €*", false, "44.90", "de"},
		{"From $29.00", false, "", ""},
		{"−25 %", false, "", ""},
		{"4.6 out of 5 stars 1,284 ratings", false, "4.6", ""},
		{"2026-03-04", false, "", ""},
		{"$1,250,000 Est. $6,512/mo", false, "1250000", ""},
		{"$29/mo", false, "29", ""},
		{"From $59 – $89", false, "", ""},
		{"105–135 cm", false, "", ""},
		{"Pay in 3 payments of £349.67", false, "", ""},
		{"€75,000 – €90,000 a year", false, "", ""},
		// One mark before three digits reads by the page's language.
		{"€ 625.000 k.k.", false, "625000", "nl"},
		{"1.299", false, "1.299", "en-GB"},
		{"1.299", false, "", ""},
		{"1,299", false, "", "de"},
		{"1,299", false, "1299", ""},
	}
	for _, tc := range cases {
		name, _ := json.Marshal(tc.in)
		if tc.integer {
			name = append(name, " as integer"...)
		}
		if tc.lang != "" {
			name = append(name, " in "+tc.lang...)
		}
		t.Run(string(name), func(t *testing.T) {
			got, ok := toNumber(tc.in, tc.integer, numberStyle{lang: tc.lang})
			if tc.want == "" {
				if ok {
					t.Fatalf("toNumber(%v) = %v; want refusal", tc.in, got)
				}
				return
			}
			if !ok || got != json.Number(tc.want) {
				t.Fatalf("toNumber(%v) = %v, %v; want %s", tc.in, got, ok, tc.want)
			}
		})
	}
}

func TestToBool(t *testing.T) {
	cases := []struct {
		in   any
		want any // nil means no answer
	}{
		{"https://schema.org/InStock", true},
		{"http://schema.org/OutOfStock", false},
		{"schema:SoldOut", false},
		{"InStoreOnly", true},
		{"LimitedAvailability", true},
		{"Discontinued", false},
		{"In stock", true},
		{"In stock — ships in 2 days", true},
		{"Only 3 left in stock", true},
		{"Out of stock", false},
		{"Currently not in stock", false},
		{"Sold out", false},
		{"Temporarily unavailable", false},
		{true, true},
		{"https://schema.org/PreOrder", nil},
		{"Blue", nil},
		{json.Number("1"), nil},
	}
	for _, tc := range cases {
		name, _ := json.Marshal(tc.in)
		t.Run(string(name), func(t *testing.T) {
			got, ok := toBool(tc.in)
			if tc.want == nil {
				if ok {
					t.Fatalf("toBool(%v) = %v; want no answer", tc.in, got)
				}
				return
			}
			if !ok || got != tc.want {
				t.Fatalf("toBool(%v) = %v, %v; want %v", tc.in, got, ok, tc.want)
			}
		})
	}
}

func TestConvertScalarEnum(t *testing.T) {
	n := &output.Node{Types: []string{"string"}, Enum: []any{"InStock", "OutOfStock"}}
	if got, ok := convertScalar("https://schema.org/InStock", n, numberStyle{}); !ok || got != "InStock" {
		t.Errorf("got %v, %v; want the enum's spelling InStock", got, ok)
	}
	if got, ok := convertScalar("maybe", n, numberStyle{}); ok {
		t.Errorf("got %v; a value outside the enum must be refused", got)
	}
}

func TestKeysFor(t *testing.T) {
	cases := []struct {
		name string
		has  []string
	}{
		{"title", []string{"title", "name", "headline"}},
		{"inStock", []string{"instock", "availability"}},
		{"in_stock", []string{"instock", "availability"}},
		{"is-available", []string{"isavailable", "availability"}},
		{"Description", []string{"description", "summary", "abstract"}},
		{"sku", []string{"sku", "productid", "mpn"}},
		{"productTitle", []string{"producttitle", "title", "name"}},
		{"sale_price", []string{"saleprice", "price", "amount"}},
		{"images", []string{"images", "image", "photo"}},
		{"datePublished", []string{"datepublished", "date", "published"}},
		{"link", []string{"link", "url", "href"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := keysFor(tc.name)
			if got[0] != tc.has[0] {
				t.Errorf("keysFor(%q)[0] = %q; the exact name must come first", tc.name, got[0])
			}
			for _, k := range tc.has {
				if !slices.Contains(got, k) {
					t.Errorf("keysFor(%q) = %q lacks %q", tc.name, got, k)
				}
			}
		})
	}
}

func TestWords(t *testing.T) {
	cases := map[string][]string{
		"productTitle":        {"product", "title"},
		"product-card__title": {"product", "card", "title"},
		"SKUCode":             {"sku", "code"},
		"Height (m)":          {"height", "m"},
		"in_stock":            {"in", "stock"},
	}
	for in, want := range cases {
		t.Run(in, func(t *testing.T) {
			if got := words(in); !slices.Equal(got, want) {
				t.Errorf("words(%q) = %q, want %q", in, got, want)
			}
		})
	}
}
