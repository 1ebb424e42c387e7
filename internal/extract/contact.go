package extract

import (
	"net/mail"
	"regexp"
	"strings"
	"sync"

	"github.com/nyaruka/phonenumbers"
	"golang.org/x/net/html"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"
)

// Contact details written as plain text, without microdata: e-mail
// addresses (mailto: links, or text that net/mail accepts), phone numbers
// (tel: links, numbers after a "Phone"/"Tel."/"T:" label, or international
// numbers, each validated by libphonenumber's rules for its country), and
// postal addresses. For addresses there is no pure-Go parser (libpostal
// needs cgo and gigabytes of model data), so postalLine reads the shapes of
// a handful of countries conservatively: a postcode and town line in one of
// those shapes, with the street line above it and a country line below;
// anything else is not an address.

// contact reads the main content's contact details. When the main content
// has none, the page's furniture (its footer, mostly) is read instead, one
// rank lower: the site's own details, where most pages keep them.
func (pg *page) contact() *record {
	r := pg.contactIn(false)
	if len(r.fields) == 0 && len(r.weaker().fields) == 0 {
		r = pg.contactIn(true)
		r.rank, r.weak.rank = 0, 0
	}
	return r
}

// contactIn reads the blocks of the main content, or with furniture those
// of the page furniture. Findings a label, a link or an <address> vouches
// for are rank 2; numbers and addresses only recognised by their shape are
// in the weak record.
func (pg *page) contactIn(furniture bool) *record {
	r := newRecord("contact")
	r.independent = true
	w := r.weaker()
	inScope := func(n *html.Node) bool {
		k := pg.furnitureOf(n)
		if furniture {
			return k == furnHard
		}
		return k == furnNone
	}
	region := pg.region()
	// Addresses first: their country decides how national phone numbers read.
	var addrs []postal
	pg.eachBlock(func(b *html.Node, lines []string) {
		if !inScope(b) {
			return
		}
		for _, a := range readAddresses(lines) {
			a.vouched = b.Data == "address" || hasAncestor(b, "address")
			addrs = append(addrs, a)
		}
	})
	for _, a := range addrs {
		dst := w
		if a.vouched {
			dst = r
		}
		dst.add("streetaddress", a.street)
		dst.add("postalcode", a.code)
		dst.add("addresslocality", a.town)
		dst.add("addressregion", a.region)
		dst.add("addresscountry", a.country)
		dst.add("address", a.line())
		if c := countryCode(a.country); c != "" {
			region = c
		} else if a.region != "" && usStates[a.region] {
			region = "US"
		}
	}
	seenLink := map[*html.Node]bool{}
	pg.eachElement(func(n *html.Node) {
		if n.Data != "a" || !inScope(n) {
			return
		}
		href, _ := attr(n, "href")
		href = strings.TrimSpace(href)
		switch {
		case hasPrefixFold(href, "mailto:"):
			addr, _, _ := strings.Cut(href[len("mailto:"):], "?")
			if e, ok := emailAddress(addr); ok {
				r.add("email", e)
				seenLink[n] = true
			}
		case hasPrefixFold(href, "tel:"):
			text := textOf(n)
			if digits(text) < 6 {
				text = href[len("tel:"):]
			}
			r.add("telephone", strings.TrimSpace(text))
			seenLink[n] = true
		}
	})
	pg.eachBlock(func(b *html.Node, lines []string) {
		if !inScope(b) {
			return
		}
		for _, line := range lines {
			if digits(line) < 6 && !strings.Contains(line, "@") {
				continue // no phone number, no e-mail
			}
			for _, m := range labelledNumber.FindAllStringSubmatch(line, -1) {
				label, sep, num := strings.ToLower(m[1]), m[2], strings.TrimRight(m[3], " .-/(")
				if (label == "t" || label == "f" || label == "p") && !strings.Contains(sep, ":") {
					continue // a lone letter is a label only before a colon
				}
				if !validPhone(num, region) {
					continue
				}
				if label == "f" || strings.Contains(label, "fax") {
					r.add("faxnumber", num)
				} else {
					r.add("telephone", num)
				}
			}
			for _, num := range intlNumber.FindAllString(line, -1) {
				if num = strings.TrimRight(num, " .-/("); validPhone(num, region) && !labelledNumber.MatchString(line) {
					w.add("telephone", num)
				}
			}
			for _, m := range emailRe.FindAllStringIndex(line, -1) {
				e, ok := emailAddress(line[m[0]:m[1]])
				if !ok {
					continue
				}
				if emailLabel.MatchString(line[:m[0]]) {
					r.add("email", e)
				} else {
					w.add("email", e)
				}
			}
		}
	})
	return r
}

var (
	// labelledNumber is a phone or fax number after its label: "Tel.:",
	// "Telefon", "Phone", "T:", "Call us:", "Fax".
	labelledNumber = regexp.MustCompile(`(?i)(?:^|[\s(|·,;])(telephone|telefon|telefono|teléfono|téléphone|tel|tél|phone|fon|call us|call|mobile|mobil|handy|cell|telefax|fax|t|f|p|☎|📞)(\s*\.?\s*:?\s*)(\+?\(?\d[\d\s().\-/]{5,}\d)`)
	intlNumber     = regexp.MustCompile(`\+\d[\d\s().\-]{6,}\d`)
	emailRe        = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	emailLabel     = regexp.MustCompile(`(?i)(e-?mail|mail|courriel|correo|posta|e)\s*:?\s*$`)
)

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}

// emailAddress accepts an address net/mail can parse as a bare address.
func emailAddress(s string) (string, bool) {
	s = strings.TrimSpace(s)
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@'):], ".") {
		return "", false
	}
	return s, true
}

// validPhone reports whether libphonenumber takes num for a valid number,
// written internationally or nationally in region.
func validPhone(num, region string) bool {
	if digits(num) < 6 || digits(num) > 15 {
		return false
	}
	if region == "" && !strings.HasPrefix(num, "+") {
		return false
	}
	p, err := phonenumbers.Parse(num, region)
	return err == nil && phonenumbers.IsValidNumber(p)
}

// samePhone reports whether two ways of writing a number are one number.
func samePhone(a, b string) bool {
	switch phonenumbers.IsNumberMatch(a, b) {
	case phonenumbers.EXACT_MATCH, phonenumbers.NSN_MATCH:
		return true
	}
	return false
}

// region is the country the page's language names, for reading national
// phone numbers ("de-DE" and "de" give DE).
func (pg *page) region() string {
	if pg.lang == "" {
		return ""
	}
	t, err := language.Parse(pg.lang)
	if err != nil {
		return ""
	}
	r, conf := t.Region()
	if conf == language.No {
		return ""
	}
	return r.String()
}

// eachElement calls fn for every element of the body, in document order,
// leaving out hidden ones and those that show a former value.
func (pg *page) eachElement(fn func(*html.Node)) {
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode || skipTags[c.Data] || pg.hidden(c) || pg.former(c) {
				continue
			}
			fn(c)
			walk(c)
		}
	}
	walk(pg.bodyNode())
}

// eachBlock calls fn for every innermost block of the body (a paragraph,
// an <address>, a list item, a cell: a block element with no block inside
// but <br>) with its lines, as <br> breaks them.
func (pg *page) eachBlock(fn func(b *html.Node, lines []string)) {
	pg.eachElement(func(n *html.Node) {
		if !blockTags[n.Data] || n.Data == "br" || hasBlockChild(n) {
			return
		}
		lines := pg.blockLines(n)
		if len(lines) > 0 {
			fn(n, lines)
		}
	})
}

func hasBlockChild(n *html.Node) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.Data != "br" && (blockTags[c.Data] || hasBlockChild(c)) {
			return true
		}
	}
	return false
}

// postal is one address as the page writes it.
type postal struct {
	street, code, town, region, country string
	// where holds the postcode and town as written ("Portland, OR 97209").
	where   string
	vouched bool
}

func (a postal) line() string {
	parts := []string{}
	for _, s := range []string{a.street, a.where, a.country} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

// city is a town's name: capitalised words, perhaps hyphenated.
const city = `(\p{Lu}[\p{L}'’.\-]*(?:[ \-][\p{L}'’.\-]+){0,3})`

// postcodeShapes are the postcode-and-town lines read, each with whether
// it is distinctive enough to stand without a street or a country line.
var postcodeShapes = []struct {
	re       *regexp.Regexp
	town, pc int // submatch indexes
	region   int
	alone    bool
}{
	// US and Canada: "Portland, OR 97209", "Montréal, QC H2X 1Y4"
	{re: regexp.MustCompile(`^` + city + `,\s*([A-Z]{2})\s+(\d{5}(?:-\d{4})?|[A-Z]\d[A-Z] ?\d[A-Z]\d)$`), town: 1, region: 2, pc: 3, alone: true},
	// UK: "London NW1 6XE"
	{re: regexp.MustCompile(`^` + city + `,?\s+([A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})$`), town: 1, pc: 2, alone: true},
	// Netherlands: "1016 GV Amsterdam"
	{re: regexp.MustCompile(`^(\d{4} ?[A-Z]{2})\s+` + city + `$`), pc: 1, town: 2, alone: true},
	// Portugal: "4050-492 Porto"
	{re: regexp.MustCompile(`^(\d{4}-\d{3})\s+` + city + `$`), pc: 1, town: 2, alone: true},
	// Five digits (Germany, France, Italy, Spain…): "10969 Berlin"
	{re: regexp.MustCompile(`^(?:[A-Z]{1,2}-)?(\d{5})\s+` + city + `$`), pc: 1, town: 2},
	// Four digits (Austria, Switzerland, Belgium, Denmark…): "8001 Zürich"
	{re: regexp.MustCompile(`^(?:[A-Z]{1,2}-)?(\d{4})\s+` + city + `$`), pc: 1, town: 2},
}

// streetWords end a street's name, never a town's: "2150 Larimer Street"
// is not the postcode 2150 of a town called Larimer Street.
var streetWords = regexp.MustCompile(`(?i)\b(street|st|road|rd|avenue|ave|lane|ln|drive|dr|boulevard|blvd|way|place|pl|court|ct|square|sq|parkway|pkwy|highway|hwy|suite|floor|straße|strasse|str|weg|platz|allee|gasse|rue|avenue|boulevard|chemin|via|viale|piazza|calle|avenida|plaza|rua|gracht|laan|straat|plein|kade)\b\.?`)

var usStates = set("AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME", "MD",
	"MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "PR", "RI", "SC", "SD", "TN",
	"TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY")
var caProvinces = set("AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC", "SK", "YT")

// readAddresses finds the addresses in one block's lines. A line (or the
// last comma-separated parts of one) must be a postcode-and-town line of a
// known shape; the street is the part before it on the same line or the
// line above, the country the part after it or the line below.
func readAddresses(lines []string) []postal {
	var out []postal
	for i, line := range lines {
		if len(line) > 200 {
			continue // a paragraph, not an address line; and the search below is quadratic in its parts
		}
		parts := strings.Split(line, ", ")
		found := false
		for start := 0; start < len(parts) && !found; start++ {
			for end := len(parts); end > start && !found; end-- {
				where := strings.Join(parts[start:end], ", ")
				a, ok := postcodeLine(where)
				if !ok {
					continue
				}
				before, after := parts[:start], parts[end:]
				switch {
				case len(before) > 0 && streetLike(strings.Join(before, ", ")):
					a.street = strings.Join(before, ", ")
				case len(before) == 0 && i > 0 && streetLike(lines[i-1]):
					a.street = lines[i-1]
				case len(before) > 0:
					continue // something else stands before the postcode
				}
				if len(after) > 0 {
					if c := firstSegment(strings.Join(after, ", ")); countryCode(c) != "" {
						a.country = c
					}
				} else if i+1 < len(lines) && countryCode(lines[i+1]) != "" {
					a.country = lines[i+1]
				}
				if !a.distinct && a.street == "" && a.country == "" {
					continue
				}
				out = append(out, a.postal)
				found = true
			}
		}
	}
	return out
}

func firstSegment(s string) string {
	return strings.TrimSpace(segmentSep.Split(s, 2)[0])
}

type postalMatch struct {
	postal
	distinct bool
}

// postcodeLine reads one postcode-and-town part.
func postcodeLine(s string) (postalMatch, bool) {
	for _, sh := range postcodeShapes {
		m := sh.re.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		town := m[sh.town]
		if streetWords.MatchString(town) || strings.ContainsAny(town, "0123456789") {
			continue
		}
		a := postalMatch{postal: postal{code: m[sh.pc], town: town, where: s}, distinct: sh.alone}
		if sh.region > 0 {
			a.region = m[sh.region]
			if !usStates[a.region] && !caProvinces[a.region] {
				continue
			}
		}
		return a, true
	}
	return postalMatch{}, false
}

// streetLike is a street line: words and a house number, short, not a
// phone number or an e-mail.
func streetLike(s string) bool {
	d := digits(s)
	if d == 0 || d > 6 || len(s) > 80 || strings.ContainsAny(s, "@:") || len(strings.Fields(s)) > 8 {
		return false
	}
	letters := 0
	for _, r := range s {
		if r > '9' {
			letters++
		}
	}
	if letters < 3 {
		return false
	}
	// A house number first ("221B Baker Street"), a street word
	// ("Calle de Alcalá 48", "Lindenstraße 12"), or one name and a number
	// ("Weteringschans 6-8"); not any sentence with a year in it.
	return numberFirst.MatchString(s) || streetWords.MatchString(s) || streetSuffix.MatchString(s) || nameNumber.MatchString(s)
}

var (
	numberFirst  = regexp.MustCompile(`^\d+[A-Za-z]?(?:[-/]\d+[A-Za-z]?)?,?\s+\p{L}`)
	streetSuffix = regexp.MustCompile(`(?i)\p{L}(straße|strasse|str\.|weg|gasse|allee|platz|laan|straat|gracht|kade|vej|gatan|gata|katu|veien|utca|ulica)\b`)
	nameNumber   = regexp.MustCompile(`^\p{Lu}[\p{L}'’.\-]+\s+\d+[A-Za-z]?(?:\s*[-/]\s*\d+[A-Za-z]?)?$`)
)

// countryCode is the ISO 3166 code of a country's name in English,
// German, French, Italian, Spanish, Dutch or Portuguese, or of the code
// itself; "" when s names no country.
func countryCode(s string) string {
	return countries()[norm(s)]
}

var countries = sync.OnceValue(func() map[string]string {
	m := map[string]string{"usa": "US", "us": "US", "unitedstatesofamerica": "US", "uk": "GB", "greatbritain": "GB", "england": "GB", "scotland": "GB", "wales": "GB"}
	namers := []display.Namer{}
	for _, l := range []language.Tag{language.English, language.German, language.French, language.Italian, language.Spanish, language.Dutch, language.Portuguese} {
		namers = append(namers, display.Regions(l))
	}
	self := display.Self
	for a := 'A'; a <= 'Z'; a++ {
		for b := 'A'; b <= 'Z'; b++ {
			code := string([]rune{a, b})
			r, err := language.ParseRegion(code)
			if err != nil || !r.IsCountry() || r.String() != code {
				continue
			}
			m[strings.ToLower(code)] = code
			for _, n := range namers {
				if name := n.Name(r); name != "" {
					m[norm(name)] = code
				}
			}
			if name := self.Name(r); name != "" {
				m[norm(name)] = code
			}
		}
	}
	return m
})
