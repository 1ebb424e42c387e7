package extract

import (
	"html"
	"net/mail"
	"reflect"
	"strings"
	"testing"
)

func TestReadAddresses(t *testing.T) {
	cases := []struct {
		name  string
		lines []string
		want  []postal // where and vouched are not compared
	}{
		{"German lines", []string{"Bäckerei Sonnenschein", "Lindenstraße 12", "10969 Berlin", "Deutschland"},
			[]postal{{street: "Lindenstraße 12", code: "10969", town: "Berlin", country: "Deutschland"}}},
		{"US lines, suite on the street line", []string{"455 Harbor Lane, Suite 210", "Portland, OR 97209"},
			[]postal{{street: "455 Harbor Lane, Suite 210", code: "97209", town: "Portland", region: "OR"}}},
		{"UK postcode after the town", []string{"221B Baker Street", "London NW1 6XE", "United Kingdom"},
			[]postal{{street: "221B Baker Street", code: "NW1 6XE", town: "London", country: "United Kingdom"}}},
		{"one line with a country and a phone after it", []string{"Rua da Reboleira 12, 4050-492 Porto, Portugal · +351 22 555 0134"},
			[]postal{{street: "Rua da Reboleira 12", code: "4050-492", town: "Porto", country: "Portugal"}}},
		{"Dutch postcode alone is distinctive", []string{"1016 GV Amsterdam"},
			[]postal{{code: "1016 GV", town: "Amsterdam"}}},
		{"four digits without a street are no address", []string{"2009 Our Founding"}, nil},
		{"a street is not a town", []string{"2150 Larimer Street"}, nil},
		{"a unit is not a town", []string{"Battery", "5000 mAh"}, nil},
		{"an unknown state is no US address", []string{"12 Main St", "Springfield, XX 12345"}, nil},
		{"a sentence before the postcode", []string{"We moved in 2019, 10115 Berlin"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := readAddresses(tc.lines)
			for i := range got {
				got[i].where, got[i].vouched = "", false
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestCleanTitle(t *testing.T) {
	cases := []struct {
		title, url, siteName string
		want                 string // "" refused
	}{
		{"Port strike ends after nine days | The Daily Ledger", "https://dailyledger.example/a", "The Daily Ledger", "Port strike ends after nine days"},
		{"The Daily Ledger", "https://dailyledger.example/a", "The Daily Ledger", ""},
		{"Field Notes – Seed saving", "https://x.example/", "Field Notes", "Seed saving"},
		{"Handmade Ceramic Mug - Blue Glaze | Clayhouse", "https://clayhouse.example/p", "", "Handmade Ceramic Mug - Blue Glaze"},
		{"Handmade Ceramic Mug - Blue Glaze", "https://clayhouse.example/p", "", "Handmade Ceramic Mug - Blue Glaze"},
		// Which part is the page's is a guess when the site is unknown.
		{"Spring sale | Outdoor jackets | Brandless", "https://shop.example/", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.title, func(t *testing.T) {
			head := `<title>` + html.EscapeString(tc.title) + `</title>`
			if tc.siteName != "" {
				head += `<meta property="og:site_name" content="` + html.EscapeString(tc.siteName) + `">`
			}
			pg, err := parsePage(Page{URL: tc.url, HTML: []byte(`<html><head>` + head + `</head><body></body></html>`)})
			if err != nil {
				t.Fatal(err)
			}
			got, ok := pg.cleanTitle(tc.title)
			if !ok {
				got = ""
			}
			if got != tc.want {
				t.Errorf("cleanTitle = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContactPhones(t *testing.T) {
	cases := []struct {
		name, lang, body string
		phones, faxes    []string
	}{
		{"labelled national number read by the page's country", "de-DE", `<p>Telefon: 030 6123 4567</p>`, []string{"030 6123 4567"}, nil},
		{"fax kept apart", "en-US", `<p>Phone: (503) 555-0142<br>Fax: (503) 555-0143</p>`, []string{"(503) 555-0142"}, []string{"(503) 555-0143"}},
		{"unlabelled national number is not taken", "fr-FR", `<p>SIRET 812 345 678 00019</p>`, nil, nil},
		{"a lone letter is a label only before a colon", "en-GB", `<p>T: +44 20 7946 0958</p><p>Flat 3 T 0207946 0958</p>`, []string{"+44 20 7946 0958"}, nil},
		{"tel: link text", "it", `<p>Chiamaci: <a href="tel:+39051555123">051 555 123</a></p>`, []string{"051 555 123"}, nil},
		{"invalid number refused", "en-US", `<p>Phone: 123-4567</p>`, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pg, err := parsePage(Page{HTML: []byte(`<html lang="` + tc.lang + `"><body><main>` + tc.body + `</main></body></html>`)})
			if err != nil {
				t.Fatal(err)
			}
			r := pg.contact()
			var phones, faxes []string
			for _, rec := range []*record{r, r.weak} {
				for _, v := range rec.fields["telephone"] {
					phones = append(phones, v.(string))
				}
				for _, v := range rec.fields["faxnumber"] {
					faxes = append(faxes, v.(string))
				}
			}
			if !reflect.DeepEqual(phones, tc.phones) || !reflect.DeepEqual(faxes, tc.faxes) {
				t.Errorf("phones %q faxes %q, want %q %q", phones, faxes, tc.phones, tc.faxes)
			}
		})
	}
}

// FuzzContact feeds arbitrary text to the contact reader as the lines of a
// page's paragraph. It must not panic, and what it finds must be on the
// page: every street, postcode and town a piece of the text, every e-mail
// one net/mail accepts.
func FuzzContact(f *testing.F) {
	f.Add("Lindenstraße 12\n10969 Berlin\nDeutschland\nTelefon: 030 6123 4567\nhallo@example.org", "de-DE")
	f.Add("455 Harbor Lane, Suite 210\nPortland, OR 97209\nPhone: (503) 555-0142", "en-US")
	f.Add("Rua da Reboleira 12, 4050-492 Porto, Portugal · +351 22 555 0134", "pt")
	f.Add("T: +44 20 7946 0958\nE: a@b.co", "en-GB")
	f.Fuzz(func(t *testing.T, text, lang string) {
		var b strings.Builder
		b.WriteString(`<html lang="` + html.EscapeString(lang) + `"><body><main><p>`)
		for i, l := range strings.Split(text, "\n") {
			if i > 0 {
				b.WriteString("<br>")
			}
			b.WriteString(html.EscapeString(l))
		}
		b.WriteString(`</p></main></body></html>`)
		pg, err := parsePage(Page{HTML: []byte(b.String())})
		if err != nil {
			return
		}
		flat := clean(strings.ReplaceAll(text, "\n", " "))
		r := pg.contact()
		for _, rec := range []*record{r, r.weak} {
			for _, k := range []string{"streetaddress", "postalcode", "addresslocality", "addresscountry", "telephone", "faxnumber"} {
				for _, v := range rec.fields[k] {
					if s := v.(string); !strings.Contains(flat, s) {
						t.Fatalf("%s %q is not in the text %q", k, s, flat)
					}
				}
			}
			for _, v := range rec.fields["email"] {
				if _, err := mail.ParseAddress(v.(string)); err != nil {
					t.Fatalf("e-mail %q does not parse: %v", v, err)
				}
			}
		}
	})
}

// FuzzToNumber reads arbitrary text as a number in every style: no panic,
// and any answer is a canonical JSON number.
func FuzzToNumber(f *testing.F) {
	for _, s := range []string{"$1,299.99", "UVP 59,90 € 44,90 €*", "€ 625.000 k.k.", "4.6 out of 5 stars 1,284 ratings", "Est. $6,512/mo", "1'250.–"} {
		f.Add(s, "de", false)
	}
	f.Fuzz(func(t *testing.T, s, lang string, declared bool) {
		for _, integer := range []bool{false, true} {
			v, ok := toNumber(s, integer, numberStyle{lang: lang, declared: declared})
			if !ok {
				continue
			}
			if n, isNum := v.(interface{ String() string }); !isNum || !canonRe.MatchString(n.String()) {
				t.Fatalf("toNumber(%q) = %v, not a canonical number", s, v)
			}
		}
	})
}
