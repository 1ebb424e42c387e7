package extract

import (
	"net/url"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/publicsuffix"
)

// Where an element sits decides whether what it says is about the page's
// subject. Page furniture (navigation, the site's header and footer,
// sidebars, cookie banners, dialogs, comments, ads) never is; other things'
// blocks (related products, recommendations, accessories, "customers also
// bought") are about something else; hidden elements are not what a reader
// sees; struck-through and "was" prices are no longer true.

type furnKind uint8

const (
	furnNone furnKind = iota
	// furnSoft marks blocks about other things than the page's subject:
	// their lists stay available, ranked after the main content's.
	furnSoft
	// furnHard marks page furniture: never read for the subject, and its
	// lists are not offered.
	furnHard
)

// Class and id words (see words) and whole folded tokens (see norm) that
// mark furniture. Words are matched one by one, so "cookie-notice" and
// "consentBanner" both hit; tokens catch names that are only meaningful
// whole ("sitefooter", "megamenu").
var (
	hardWords = set("cookie", "cookies", "consent", "gdpr", "onetrust", "cmplz", "usercentrics", "iubenda", "cookiebar",
		"newsletter", "breadcrumb", "breadcrumbs", "pagination", "pager", "comments", "comment", "disqus",
		"advert", "advertisement", "ad", "ads", "adslot", "sponsored", "sharing", "social", "sidebar", "modal", "popup",
		"drawer", "offcanvas", "navbar", "nav", "navigation", "toc", "colophon", "masthead", "copyright",
		"topbar", "promo", "announcement", "usp", "trending", "popular", "mostread", "widgetarea", "skiplink")
	hardTokens = set("sitefooter", "pagefooter", "globalfooter", "mainfooter", "footer", "siteheader", "globalheader",
		"topheader", "header", "megamenu", "mainmenu", "primarymenu", "mobilemenu", "mostread", "topbar", "promobar",
		"widgetarea", "sitebranding")
	softWords = set("related", "recommended", "recommendations", "recommendation", "recs", "upsell", "upsells",
		"crosssell", "also", "similar", "recently", "recentlyviewed", "compare", "comparison", "accessories",
		"bundle", "bundles", "older", "previous", "others")
	// softHeading is a heading that introduces other things than the page's
	// subject, in the languages the corpus meets.
	softHeading = regexp.MustCompile(`(?i)\b(related|similar|recommended|you (may|might) also|customers (also|who)|also (bought|viewed|like)|frequently bought|complete the (set|look)|recently viewed|top sellers|best ?sellers|more (from|like|in)|people also|others also|accessories|ook interessant|vergelijkbare|offres similaires|ähnliche|das könnte|auch interessant|prodotti correlati|también te puede)\b`)
	hardHeading = regexp.MustCompile(`(?i)\b(cookies?|your privacy|we value your privacy|consent|newsletter)\b`)
)

// Class tokens that hide an element, and the responsive classes that show it
// again at desktop widths (Tailwind "hidden md:block", Bootstrap "d-none
// d-lg-flex").
var (
	hiddenTokens = set("hidden", "dnone", "ishidden", "visuallyhidden", "sronly", "screenreadertext", "screenreaderonly",
		"invisible", "uhidden", "hide", "ahidden", "offscreen", "srtext", "vhidden")
	responsiveShow = regexp.MustCompile(`^(sm|md|lg|xl|2xl):(block|flex|inline|inline-block|inline-flex|grid|table|contents)$|^d-(sm|md|lg|xl|xxl)-(block|flex|inline|inline-block|inline-flex|grid|table)$`)
)

// Class words that mark a former value (a crossed-out or "was" price) and
// savings, which are amounts but not prices.
var (
	formerWords  = set("strike", "strikethrough", "linethrough", "crossed", "striked", "was", "old", "before", "previous", "original", "compare", "rrp", "msrp", "uvp")
	formerTokens = set("oldprice", "wasprice", "compareatprice", "priceold", "pricewas", "pricebefore", "pricecompare", "priceoriginal", "originalprice", "crossedprice", "strikeprice", "strikedprice")
	formerLabel  = regexp.MustCompile(`(?i)\b(was|list price|typical price|rrp|msrp|uvp|regular price|original price|compare at|before|statt|avant)\s*:?\s*$`)
	savingWords  = set("save", "saving", "savings", "discount", "badge", "percent", "percentage")
	// Items of a list that are not items: a call to action among team cards,
	// an ad among products.
	notItemWords = set("cta", "promo", "ad", "ads", "advert", "sponsored", "placeholder", "skeleton", "empty", "banner")
)

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// nameWords returns the words and whole folded tokens of an element's class
// and id.
func nameWords(n *html.Node) (ws, tokens []string) {
	for _, a := range n.Attr {
		if a.Key != "class" && a.Key != "id" {
			continue
		}
		for _, t := range strings.Fields(a.Val) {
			tokens = append(tokens, norm(t))
			ws = append(ws, words(t)...)
		}
	}
	return ws, tokens
}

func anyIn(m map[string]bool, lists ...[]string) bool {
	for _, l := range lists {
		for _, s := range l {
			if m[s] {
				return true
			}
		}
	}
	return false
}

// furnitureOf classifies n by itself and its ancestors (the strongest
// wins), memoised per page.
func (pg *page) furnitureOf(n *html.Node) furnKind {
	if n == nil || n.Type == html.DocumentNode {
		return furnNone
	}
	if n.Type != html.ElementNode {
		return pg.furnitureOf(n.Parent)
	}
	if k, ok := pg.furn[n]; ok {
		return k
	}
	k := max(pg.facts(n).own, pg.furnitureOf(n.Parent))
	if pg.furn == nil {
		pg.furn = map[*html.Node]furnKind{}
	}
	pg.furn[n] = k
	return k
}

func ownFurniture(n *html.Node, ws, tokens []string) furnKind {
	switch n.Data {
	case "nav", "footer", "aside", "head", "script", "style", "noscript", "template", "dialog":
		return furnHard
	case "header":
		// An <article>'s own <header> holds its headline; only the site's is furniture.
		if !hasAncestor(n, "article", "main") {
			return furnHard
		}
	}
	switch role, _ := attr(n, "role"); role {
	case "navigation", "banner", "contentinfo", "dialog", "alertdialog", "complementary", "search":
		return furnHard
	}
	if v, _ := attr(n, "aria-modal"); v == "true" {
		return furnHard
	}
	if label, ok := attr(n, "aria-label"); ok {
		ws = append(ws[:len(ws):len(ws)], words(label)...)
	}
	if anyIn(hardWords, ws) {
		return furnHard
	}
	for _, t := range tokens {
		// A <div class="header"> is the site's only outside the content.
		if hardTokens[t] && (t != "header" || !hasAncestor(n, "article", "main")) {
			return furnHard
		}
	}
	if anyIn(softWords, ws) {
		return furnSoft
	}
	if h := firstHeading(n); h != nil {
		t := textOf(h)
		if hardHeading.MatchString(t) {
			return furnHard
		}
		if softHeading.MatchString(t) {
			return furnSoft
		}
	}
	return furnNone
}

// firstHeading is n's first element child when that is a heading: the title
// of a section, which tells what the section is about.
func firstHeading(n *html.Node) *html.Node {
	if n.Data == "html" || n.Data == "body" || n.Data == "main" || n.Data == "article" {
		return nil
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.TextNode && strings.TrimSpace(c.Data) == "" {
			continue
		}
		if c.Type == html.ElementNode {
			switch c.Data {
			case "h1", "h2", "h3", "h4", "h5", "h6":
				return c
			}
		}
		return nil
	}
	return nil
}

// hidden reports whether n itself is hidden from a reader: the hidden
// attribute, aria-hidden, display:none or visibility:hidden inline, or a
// framework's hiding class.
func isHidden(n *html.Node) bool {
	if n.Type != html.ElementNode {
		return false
	}
	if _, ok := attr(n, "hidden"); ok {
		return true
	}
	if v, _ := attr(n, "aria-hidden"); v == "true" {
		return true
	}
	if n.Data == "input" {
		if v, _ := attr(n, "type"); strings.EqualFold(v, "hidden") {
			return true
		}
	}
	if st, ok := attr(n, "style"); ok {
		s := strings.ToLower(strings.ReplaceAll(st, " ", ""))
		if strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") {
			return true
		}
	}
	cl, ok := attr(n, "class")
	if !ok {
		return false
	}
	hide, show := false, false
	for _, t := range strings.Fields(cl) {
		hide = hide || hiddenTokens[norm(t)]
		show = show || responsiveShow.MatchString(t)
	}
	return hide && !show
}

// former reports whether n shows a value that no longer holds: struck
// through (<del>, <s>, <strike>, line-through) or named as the old, "was",
// list or compare-at value.
func isFormer(n *html.Node, ws, tokens []string) bool {
	if n.Type != html.ElementNode {
		return false
	}
	switch n.Data {
	case "del", "s", "strike":
		return true
	}
	if st, ok := attr(n, "style"); ok && strings.Contains(strings.ToLower(st), "line-through") {
		return true
	}
	for _, a := range n.Attr {
		// data-strike="true", data-a-strike="true"
		if strings.HasPrefix(a.Key, "data-") && strings.Contains(a.Key, "strike") && a.Val == "true" {
			return true
		}
	}
	// "List Price: <span>$34.95</span>": the label before it says so.
	if p := n.PrevSibling; p != nil && p.Type == html.TextNode && formerLabel.MatchString(p.Data) {
		return true
	}
	return anyIn(formerWords, ws) || anyIn(formerTokens, tokens)
}

// saving reports whether n shows a saving or a discount ("Save £36.00",
// "−25 %"): an amount that is not the price.
func (pg *page) saving(n *html.Node) bool {
	return n.Type == html.ElementNode && pg.facts(n).saving
}

// notAnItem reports whether a member of a run of cards is there to sell or
// to invite rather than to be one of the things listed.
func (pg *page) notAnItem(n *html.Node) bool {
	return anyIn(notItemWords, pg.facts(n).words)
}

// unseen reports whether n or an ancestor is hidden.
func (pg *page) unseen(n *html.Node) bool {
	for p := n; p != nil; p = p.Parent {
		if pg.hidden(p) {
			return true
		}
	}
	return false
}

// facts is what an element's own markup says about it, worked out once
// per page: the words of its class and id, whether it is hidden, shows a
// former value or a saving, and what furniture it is by itself.
type facts struct {
	words, tokens          []string
	hidden, former, saving bool
	own                    furnKind
}

func (pg *page) facts(n *html.Node) *facts {
	if f, ok := pg.factCache[n]; ok {
		return f
	}
	ws, tokens := nameWords(n)
	f := &facts{words: ws, tokens: tokens, hidden: isHidden(n), former: isFormer(n, ws, tokens), saving: anyIn(savingWords, ws)}
	f.own = ownFurniture(n, ws, tokens)
	if f.own == furnNone && pg.foreignFrame(n) {
		f.own = furnSoft
	}
	if f.own == furnHard && headerLike(n, tokens) && pg.holdsPageHeading(n) {
		// <div id="header"> around the job title and company of a job
		// board's page is the page's own header, not the site's.
		f.own = furnNone
	}
	if pg.factCache == nil {
		pg.factCache = map[*html.Node]*facts{}
	}
	pg.factCache[n] = f
	return f
}

// foreignFrame reports whether n holds the document of a frame from
// another site (the browser inlines each frame as <div
// data-errand-frame="URL">) that names a thing of its own: an ad with its
// own headline and price, a map's place card. Such a frame is about
// something else. A frame of the page's own site, or one that only adds to
// the page (a price served from a pricing service, a form), reads as the
// page.
func (pg *page) foreignFrame(n *html.Node) bool {
	src, ok := attr(n, "data-errand-frame")
	if !ok || pg.url == nil {
		return false
	}
	u, err := url.Parse(strings.TrimSpace(src))
	if err != nil || u.Hostname() == "" {
		return false // about:blank, srcdoc: the page's own content
	}
	if site(u.Hostname()) == site(pg.url.Hostname()) {
		return false
	}
	return namesAThing(n)
}

// namesAThing reports whether n holds a title of its own: a heading, or an
// element named as a name, title or headline.
func namesAThing(n *html.Node) bool {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type != html.ElementNode {
			continue
		}
		switch c.Data {
		case "h1", "h2", "h3", "h4":
			return true
		}
		if v, _ := attr(c, "itemprop"); v == "name" {
			return true
		}
		ws, _ := nameWords(c)
		if anyIn(set("name", "title", "headline"), ws) || namesAThing(c) {
			return true
		}
	}
	return false
}

// site is a host's registrable domain ("shop.example.co.uk" ->
// "example.co.uk"), or the host itself when it has none.
func site(host string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}

// headerLike reports whether n is furniture only as a header: a <header>
// or an element named header, masthead and the like.
func headerLike(n *html.Node, tokens []string) bool {
	if n.Data == "header" {
		return true
	}
	for _, t := range tokens {
		switch t {
		case "header", "siteheader", "globalheader", "topheader", "masthead":
			return true
		}
	}
	return false
}

// holdsPageHeading reports whether a header holds an <h1> that is not the
// site's name (a logo): the page's own title.
func (pg *page) holdsPageHeading(n *html.Node) bool {
	var found bool
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil && !found; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			if c.Data == "nav" {
				continue
			}
			if c.Data == "h1" {
				t := norm(textOf(c))
				found = t != "" && !pg.siteNames()[t]
				continue
			}
			walk(c)
		}
	}
	walk(n)
	return found
}

// hidden reports whether n itself is hidden from a reader (see isHidden).
func (pg *page) hidden(n *html.Node) bool {
	return n.Type == html.ElementNode && pg.facts(n).hidden
}

// former reports whether n itself shows a former value (see isFormer).
func (pg *page) former(n *html.Node) bool {
	return n.Type == html.ElementNode && pg.facts(n).former
}

// valueText is the text a reader sees in n as its current value: like
// textOf, without hidden descendants, struck-through or "was" values,
// savings, and furniture nested inside.
func (pg *page) valueText(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node, bool)
	walk = func(n *html.Node, top bool) {
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return
		case html.ElementNode:
			if skipTags[n.Data] || pg.hidden(n) {
				return
			}
			if !top && (pg.former(n) || pg.saving(n) || pg.facts(n).own == furnHard) {
				return
			}
			if blockTags[n.Data] {
				b.WriteByte(' ')
				defer b.WriteByte(' ')
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, false)
		}
	}
	walk(n, true)
	return clean(b.String())
}

// inBlockAboutOthers reports whether a script or element of the body sits
// in furniture or in a block about other things: a recommendation card's
// own JSON-LD. The document's <head> speaks for the page.
func (pg *page) inBlockAboutOthers(n *html.Node) bool {
	if n == nil || n.Parent == nil || hasAncestor(n, "head") {
		return false
	}
	return pg.boilerplate(n.Parent)
}
