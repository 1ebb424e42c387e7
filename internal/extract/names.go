package extract

import (
	"strings"
	"unicode"
)

// norm folds a property name, schema.org term, class name or column header
// to the form names are compared in: lower case letters and digits only, so
// inStock, in_stock, in-stock and "In Stock" are one name.
func norm(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// words splits a name into its folded words at case changes and at anything
// that is not a letter or digit: "productTitle" -> product, title;
// "card__price-now" -> card, price, now.
func words(s string) []string {
	var out []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	rs := []rune(s)
	for i, r := range rs {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && len(cur) > 0 && (unicode.IsLower(cur[len(cur)-1]) ||
			(i+1 < len(rs) && unicode.IsLower(rs[i+1]))):
			// "inStock" splits before S; "SKUCode" splits before C.
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
	}
	flush()
	return out
}

// synonyms groups the names pages use for the same thing; the first of a
// group is the usual schema.org term. Order inside a group is the order
// candidates are tried after the exact name.
var synonyms = [][]string{
	{"name", "title", "headline", "productname", "heading", "itemname", "product", "item"},
	{"price", "amount", "cost", "saleprice", "currentprice", "priceamount", "offerprice", "ourprice", "nowprice", "pricenow", "tickets", "ticket", "ticketprice", "admission", "entryfee", "money"},
	{"pricecurrency", "currency", "currencycode"},
	{"availability", "instock", "available", "isavailable", "stock", "stockstatus", "inventorystatus"},
	{"description", "summary", "abstract", "desc", "excerpt", "intro", "teaser", "blurb", "standfirst", "lede", "dek", "subheadline"},
	{"sku", "productid", "mpn", "gtin", "gtin13", "gtin12", "gtin8", "gtin14", "partnumber", "itemnumber", "articlenumber", "productcode", "modelnumber", "artikelnummer", "reference"},
	{"isbn", "isbn13", "isbn10"},
	{"url", "link", "href", "permalink", "canonical", "uri"},
	{"image", "photo", "picture", "thumbnail", "img", "imageurl", "thumbnailurl"},
	{"author", "creator", "byline", "writer", "by", "authorname", "autor", "auteur"},
	{"datepublished", "date", "published", "publishdate", "publisheddate", "publishedat", "pubdate", "publishedtime", "datecreated", "uploaddate", "releasedate", "released", "postedon", "posted", "dateposted"},
	{"datemodified", "updated", "modified", "lastmodified", "updatedat", "modifiedtime"},
	{"startdate", "start", "eventdate", "starttime"},
	{"brand", "manufacturer", "maker", "vendor", "marke", "marque"},
	{"ratingvalue", "rating", "stars", "score", "averagerating"},
	{"reviewcount", "reviews", "ratingcount", "numreviews", "reviewscount", "ratings", "numberofratings"},
	{"articlebody", "body", "content", "text", "maintext", "maincontent", "articletext", "fulltext"},
	{"articlesection", "category", "section", "department"},
	{"keywords", "tags", "tag", "topics"},
	{"publisher", "source", "sitename"},
	{"color", "colour", "farbe", "couleur"},
	{"telephone", "phone", "phonenumber", "tel", "telefon", "telefono", "tél", "telephonenumber", "contactphone"},
	{"faxnumber", "fax", "telefax"},
	{"email", "mail", "emailaddress", "contactemail", "courriel"},
	{"address", "fulladdress", "postaladdress", "adresse", "indirizzo", "direccion"},
	{"streetaddress", "street", "addressline1", "address1", "strasse", "straße"},
	{"postalcode", "zip", "zipcode", "postcode", "plz", "codepostal", "cap"},
	{"addresslocality", "city", "town", "locality", "ort", "stadt", "ville", "citta", "ciudad", "plaats"},
	{"addressregion", "region", "state", "province", "county"},
	{"addresscountry", "country", "land", "pays", "paese", "pais"},
	{"location", "joblocation", "place", "venue", "eventvenue", "worklocation"},
	{"company", "hiringorganization", "employer", "companyname", "organization", "organisation", "firm"},
	{"employmenttype", "jobtype", "contracttype"},
	{"salary", "basesalary", "pay", "compensation"},
	{"ingredients", "recipeingredient", "ingredient"},
	{"steps", "recipeinstructions", "instructions", "method", "directions", "preparation"},
	{"term", "question", "word", "dt"},
	{"definition", "answer", "meaning", "explanation", "dd"},
	{"version", "softwareversion"},
	{"license", "licence"},
	{"size", "filesize", "contentsize", "downloadsize"},
	{"pages", "numberofpages", "pagecount"},
}

// qualifiers are words that make a property another value than its last
// word: a wasPrice or an oldPrice is not the price, and must not be
// answered with it.
var qualifiers = set("was", "old", "before", "previous", "original", "regular", "list", "compare", "rrp", "msrp", "uvp",
	"min", "max", "minimum", "maximum", "from", "to", "shipping", "delivery", "unit", "per", "tax", "vat", "discount", "saving",
	"other", "alternative", "second", "secondary", "parent", "related", "street", "postal", "home", "work", "billing", "shipping", "mailing", "web", "ip")

var synonymIndex = func() map[string][]string {
	idx := map[string][]string{}
	for _, g := range synonyms {
		for _, n := range g {
			idx[n] = g
		}
	}
	return idx
}()

// keysFor lists the folded names under which a value for the schema property
// name may appear on a page, best first: the name itself, its synonyms, and
// then the synonyms of its last word, so productTitle finds a title and
// salePrice a price.
func keysFor(name string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(ks ...string) {
		for _, k := range ks {
			if k != "" && !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	n := norm(name)
	add(n)
	add(synonymIndex[n]...)
	// Pages pluralise freely: a schema's offer is JSON-LD's offers, and a
	// schema's images are image values.
	add(n + "s")
	for _, suffix := range []string{"es", "s"} {
		if s, ok := strings.CutSuffix(n, suffix); ok && len(s) > 2 && synonymIndex[s] != nil {
			add(s)
			add(synonymIndex[s]...)
			break
		}
	}
	if ws := words(name); len(ws) > 1 && !anyIn(qualifiers, ws[:len(ws)-1]) {
		last := ws[len(ws)-1]
		add(last)
		add(synonymIndex[last]...)
	}
	return out
}

// group returns the synonym group's first name for a property, or "" when it
// is in none; conversions that depend on meaning (availability to boolean,
// relative links to absolute) ask it.
func group(name string) string {
	for _, k := range keysFor(name) {
		if g, ok := synonymIndex[k]; ok {
			return g[0]
		}
	}
	return ""
}
