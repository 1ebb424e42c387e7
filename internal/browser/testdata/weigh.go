//go:build ignore

// weigh.go builds testdata/corpus from testdata/corpus-light: the same
// pages, same visible content, carrying the markup weight that production
// sites carry and the light pages lack. The light pages gzip to 6–14 KB,
// all below the median desktop home page's HTML (18 KB transferred, HTTP
// Archive Web Almanac 2024, Page Weight); the pages written here land
// around and above it, as news, shop and search pages do. What is added is
// what such pages are made of, none of it visible in the viewport:
//
//   - utility (prefixed) and hashed CSS-in-JS class lists on elements;
//   - analytics and test attributes on links and buttons;
//   - responsive images (srcset over a CDN, sizes, decoding);
//   - a hidden mega menu under each primary navigation item, and a hidden
//     mobile drawer repeating the navigation;
//   - an inline SVG icon sprite;
//   - head metadata: hreflang alternates, preloads, JSON-LD, a consent
//     manager's vendor list, feature flags;
//   - the framework's chunk scripts before </body>.
//
// BenchmarkObservationTokens measures both corpora and a test checks that
// each page's observation is the same in both.
//
//	go run testdata/weigh.go   (from internal/browser)
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

var utilities = strings.Fields(`flex inline-flex grid block hidden items-center items-start justify-between
justify-center gap-1 gap-2 gap-3 gap-4 gap-6 px-2 px-3 px-4 px-6 py-1 py-2 py-3 py-4 pt-2 pb-4 mt-1 mt-2
mt-4 mb-2 mb-4 text-xs text-sm text-base text-lg text-xl font-medium font-semibold font-bold
leading-tight leading-snug tracking-tight text-gray-500 text-gray-700 text-gray-900 text-slate-600
bg-white bg-gray-50 bg-gray-100 hover:bg-gray-100 hover:text-blue-700 hover:underline rounded
rounded-md rounded-lg border border-gray-200 shadow-sm shadow-md w-full max-w-screen-xl min-w-0
truncate line-clamp-2 line-clamp-3 overflow-hidden relative absolute inset-0 z-10 transition-colors
duration-150 ease-in-out focus:outline-none focus-visible:ring-2 focus-visible:ring-blue-500
focus-visible:ring-offset-2 md:flex md:hidden md:px-6 md:text-base lg:grid-cols-3 lg:gap-8
lg:text-lg xl:max-w-7xl sm:grid-cols-2 dark:bg-gray-900 dark:text-gray-100 dark:border-gray-700
aspect-video object-cover select-none cursor-pointer whitespace-nowrap sr-only:focus`)

var sections = strings.Fields(`Overview Latest Popular Analysis Explainers Video Podcasts Newsletters
Live Opinion Features Interviews Data Graphics Investigations Archive Events Guides Reviews Deals
Europe Asia Africa Americas Markets Economy Companies Startups Policy Energy Climate Space Health
Wellness Education Travel Food Books Film Music Games Football Tennis Cricket Formula1 Olympics`)

func main() {
	names, err := filepath.Glob("testdata/corpus-light/*.html")
	if err != nil || len(names) == 0 {
		log.Fatal("run from internal/browser: no testdata/corpus-light/*.html")
	}
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			log.Fatal(err)
		}
		h := fnv.New64a()
		h.Write([]byte(filepath.Base(name)))
		w := &weigher{r: rand.New(rand.NewPCG(2025, h.Sum64())), page: strings.TrimSuffix(filepath.Base(name), ".html")}
		doc, err := html.Parse(bytes.NewReader(raw))
		if err != nil {
			log.Fatal(err)
		}
		w.weigh(doc)
		var out bytes.Buffer
		if err := html.Render(&out, doc); err != nil {
			log.Fatal(err)
		}
		dst := filepath.Join("testdata/corpus", filepath.Base(name))
		if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%-22s %6d → %6d bytes\n", filepath.Base(name), len(raw), out.Len())
	}
}

type weigher struct {
	r     *rand.Rand
	page  string
	links int
	// Components render the same class list wherever they appear: one list
	// per component, as a framework's output has.
	components map[string]string
}

// component returns the class list of the component named key, made up
// the first time.
func (w *weigher) component(key string, n int) string {
	if c, ok := w.components[key]; ok {
		return c
	}
	if w.components == nil {
		w.components = map[string]string{}
	}
	c := w.classes(n)
	w.components[key] = c
	return c
}

func (w *weigher) pick(list []string) string { return list[w.r.IntN(len(list))] }

func (w *weigher) hash(n int) string {
	const digits = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[w.r.IntN(len(digits))]
	}
	return string(b)
}

func (w *weigher) classes(n int) string {
	c := make([]string, 0, n+1)
	c = append(c, "css-"+w.hash(6))
	for range n {
		// Prefixed, as Tailwind's prefix option does on sites whose own
		// stylesheet has classes of the same names (.grid, .hidden…).
		c = append(c, "tw-"+w.pick(utilities))
	}
	return strings.Join(c, " ")
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func setAttr(n *html.Node, key, val string) {
	for i, a := range n.Attr {
		if a.Key == key {
			n.Attr[i].Val = val
			return
		}
	}
	n.Attr = append(n.Attr, html.Attribute{Key: key, Val: val})
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// fragment parses markup meant for the inside of ctx.
func fragment(ctx *html.Node, markup string) []*html.Node {
	nodes, err := html.ParseFragment(strings.NewReader(markup), ctx)
	if err != nil {
		log.Fatal(err)
	}
	return nodes
}

func (w *weigher) weigh(doc *html.Node) {
	var head, body *html.Node
	var navItems []*html.Node
	var header *html.Node
	var walk func(n *html.Node, region string)
	walk = func(n *html.Node, region string) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Head:
				head = n
			case atom.Body:
				body = n
			case atom.Header:
				if header == nil {
					header = n
				}
				region = "header"
			case atom.Main:
				region = "main"
			case atom.Footer:
				region = "footer"
			case atom.Script, atom.Style, atom.Svg:
				return
			}
			w.element(n, region)
			if n.DataAtom == atom.Li && n.Parent != nil {
				if c, _ := attr(n.Parent, "class"); strings.Contains(c, "nav") && region == "header" {
					navItems = append(navItems, n)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, region)
		}
	}
	walk(doc, "")
	if head == nil || body == nil {
		log.Fatal("no head or body")
	}
	for _, li := range navItems {
		w.megaMenu(li)
	}
	w.headMeta(head, body)
	for _, n := range fragment(body, w.sprite()) {
		body.InsertBefore(n, body.FirstChild)
	}
	if header != nil {
		for _, n := range fragment(body, w.drawer(navItems)) {
			header.Parent.InsertBefore(n, header.NextSibling)
		}
	}
	for _, n := range fragment(body, w.chunks()) {
		body.AppendChild(n)
	}
}

// element adds the attributes a component framework renders.
func (w *weigher) element(n *html.Node, region string) {
	switch n.DataAtom {
	case atom.Html, atom.Head, atom.Meta, atom.Link, atom.Title, atom.Br, atom.Option, atom.Tbody,
		atom.Thead, atom.Tr, atom.Td, atom.Th, atom.Time:
		return
	}
	parent := ""
	if n.Parent != nil {
		parent = n.Parent.Data
	}
	own, _ := attr(n, "class")
	extra := w.component(region+"/"+parent+"/"+n.Data+"."+own, 3+w.r.IntN(8))
	if c, ok := attr(n, "class"); ok {
		setAttr(n, "class", c+" "+extra)
	} else if n.DataAtom != atom.Body {
		setAttr(n, "class", extra)
	}
	switch n.DataAtom {
	case atom.A:
		w.links++
		ev, _ := json.Marshal(map[string]any{"event": "link_click", "region": region, "label": textOf(n), "position": w.links, "page_type": w.page})
		setAttr(n, "data-analytics", string(ev))
		setAttr(n, "data-testid", region+"-link-"+fmt.Sprint(w.links))
		if h, _ := attr(n, "href"); strings.HasPrefix(h, "http") {
			setAttr(n, "rel", "noopener noreferrer")
			setAttr(n, "target", "_blank")
		}
	case atom.Button:
		setAttr(n, "data-testid", region+"-button-"+w.hash(4))
		if _, ok := attr(n, "type"); !ok {
			setAttr(n, "type", "button")
		}
	case atom.Img:
		id := w.hash(24)
		var set []string
		for _, width := range []int{320, 480, 640, 828, 1080, 1200, 1920} {
			set = append(set, fmt.Sprintf("https://cdn.example.net/_next/image?url=%%2Fimages%%2F%s.jpg&w=%d&q=75 %dw", id, width, width))
		}
		setAttr(n, "srcset", strings.Join(set, ", "))
		setAttr(n, "sizes", "(max-width: 640px) 100vw, (max-width: 1024px) 50vw, 33vw")
		setAttr(n, "decoding", "async")
		setAttr(n, "data-nimg", "1")
		setAttr(n, "style", "color:transparent")
	}
}

// megaMenu hangs a hidden panel under a primary navigation item, as
// news and shop sites do (shown on hover).
func (w *weigher) megaMenu(li *html.Node) {
	label := textOf(li)
	slug := strings.ToLower(strings.ReplaceAll(label, " ", "-"))
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="mega-panel %s" hidden="" role="region" aria-label="%s menu" data-menu="%s"><div class="%s">`,
		w.component("k1", 8), label, slug, w.component("k2", 6))
	for col := range 2 {
		fmt.Fprintf(&b, `<div class="%s"><p class="%s">%s %s</p><ul class="%s">`, w.component("k3", 4), w.component("k4", 5), label, w.pick(sections), w.component("k5", 3))
		for range 4 + w.r.IntN(3) {
			s := w.pick(sections)
			w.links++
			fmt.Fprintf(&b, `<li class="%s"><a href="/%s/%s" class="%s" data-analytics='{"event":"nav_click","menu":"%s","column":%d,"label":"%s"}'>%s</a></li>`,
				w.component("k6", 2), slug, strings.ToLower(s), w.component("k7", 7), slug, col, s, s)
		}
		b.WriteString(`</ul></div>`)
	}
	fmt.Fprintf(&b, `<a class="promo %s" href="/%s/featured"><img alt="" width="280" height="158" loading="lazy" src="https://cdn.example.net/promo/%s.jpg"><span class="%s">Featured in %s</span></a></div></div>`,
		w.component("k8", 6), slug, w.hash(16), w.component("k9", 4), label)
	for _, n := range fragment(li, b.String()) {
		li.AppendChild(n)
	}
}

func (w *weigher) drawer(navItems []*html.Node) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<div id="mobile-drawer" class="drawer %s" hidden="" role="dialog" aria-modal="true" aria-label="Menu"><nav class="%s"><ul class="%s">`,
		w.component("k10", 9), w.component("k11", 5), w.component("k12", 4))
	for _, li := range navItems {
		label := textOf(li)
		if i := strings.Index(label, " "); i > 0 {
			label = label[:i]
		}
		slug := strings.ToLower(label)
		fmt.Fprintf(&b, `<li class="%s"><details class="%s"><summary class="%s">%s<svg class="icon" aria-hidden="true"><use href="#icon-chevron"></use></svg></summary><ul class="%s">`,
			w.component("k13", 3), w.component("k14", 4), w.component("k15", 6), label, w.component("k16", 3))
		for range 5 {
			s := w.pick(sections)
			fmt.Fprintf(&b, `<li><a href="/%s/%s" class="%s">%s</a></li>`, slug, strings.ToLower(s), w.component("k17", 5), s)
		}
		b.WriteString(`</ul></details></li>`)
	}
	fmt.Fprintf(&b, `</ul></nav><div class="%s"><a href="/account" class="%s">Sign in</a><a href="/subscribe" class="%s">Subscribe</a></div></div>`,
		w.component("k18", 4), w.component("k19", 6), w.component("k20", 6))
	return b.String()
}

func (w *weigher) sprite() string {
	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" style="display:none" aria-hidden="true">`)
	for _, name := range []string{"menu", "search", "user", "cart", "chevron", "close", "share", "bookmark",
		"facebook", "x", "instagram", "youtube", "linkedin", "mail", "play", "star", "check", "info"} {
		fmt.Fprintf(&b, `<symbol id="icon-%s" viewBox="0 0 24 24"><path d="M%d.%d %d.%d`, name, w.r.IntN(24), w.r.IntN(100), w.r.IntN(24), w.r.IntN(100))
		for range 18 + w.r.IntN(20) {
			cmd := w.pick([]string{"c", "l", "s", "a", "h", "v", "C", "L"})
			fmt.Fprintf(&b, "%s%.2f %.2f", cmd, w.r.Float64()*24-12, w.r.Float64()*24-12)
			if cmd == "c" || cmd == "C" || cmd == "s" {
				fmt.Fprintf(&b, " %.2f %.2f", w.r.Float64()*24-12, w.r.Float64()*24-12)
			}
		}
		b.WriteString(`z"></path></symbol>`)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func (w *weigher) headMeta(head, body *html.Node) {
	var b strings.Builder
	for _, loc := range []string{"en-us", "en-gb", "en-au", "en-ca", "de-de", "fr-fr", "es-es", "it-it", "nl-nl", "pt-br", "ja-jp", "x-default"} {
		fmt.Fprintf(&b, `<link rel="alternate" hreflang="%s" href="https://www.example.com/%s/%s">`, loc, loc, w.page)
	}
	for _, f := range []string{"inter-var-latin", "inter-var-latin-ext", "source-serif-4-latin"} {
		fmt.Fprintf(&b, `<link rel="preload" href="https://cdn.example.net/_next/static/media/%s.%s.woff2" as="font" type="font/woff2" crossorigin="">`, f, w.hash(8))
	}
	for range 6 {
		fmt.Fprintf(&b, `<link rel="preload" href="https://cdn.example.net/_next/static/chunks/%s-%s.js" as="script">`, w.hash(4), w.hash(16))
	}
	fmt.Fprintf(&b, `<link rel="stylesheet" href="https://cdn.example.net/_next/static/css/%s.css" data-n-g="">`, w.hash(16))
	ld := []any{
		map[string]any{"@context": "https://schema.org", "@type": "Organization", "name": "Example Media Group", "url": "https://www.example.com",
			"logo":   map[string]any{"@type": "ImageObject", "url": "https://cdn.example.net/logo-512.png", "width": 512, "height": 512},
			"sameAs": []string{"https://facebook.example/examplemedia", "https://x.example/examplemedia", "https://instagram.example/examplemedia", "https://youtube.example/examplemedia", "https://linkedin.example/company/examplemedia"}},
		map[string]any{"@context": "https://schema.org", "@type": "WebSite", "url": "https://www.example.com", "name": "Example",
			"potentialAction": map[string]any{"@type": "SearchAction", "target": "https://www.example.com/search?q={search_term_string}", "query-input": "required name=search_term_string"}},
		map[string]any{"@context": "https://schema.org", "@type": "WebPage", "name": textOf(findTitle(head)), "description": textOf(body)[:min(300, len(textOf(body)))]},
	}
	ldJSON, _ := json.Marshal(ld)
	fmt.Fprintf(&b, `<script type="application/ld+json">%s</script>`, ldJSON)
	var vendors []map[string]any
	for i := range 40 {
		vendors = append(vendors, map[string]any{"id": 10 + i*7, "name": fmt.Sprintf("%s %s", w.pick([]string{"Ad", "Data", "Media", "Pixel", "Audience", "Signal", "Metric"}), w.pick([]string{"Labs", "Works", "Exchange", "Cloud", "Partners", "Network", "Systems"})),
			"purposes": []int{1 + w.r.IntN(4), 5 + w.r.IntN(6)}, "legIntPurposes": []int{2 + w.r.IntN(8)}, "features": []int{1 + w.r.IntN(3)},
			"policyUrl": fmt.Sprintf("https://vendor%d.example/privacy", i), "cookieMaxAgeSeconds": 86400 * (30 + w.r.IntN(365))})
	}
	consent, _ := json.Marshal(map[string]any{"version": 3, "gvlVersion": 128, "tcfPolicyVersion": 4, "vendors": vendors})
	fmt.Fprintf(&b, `<script id="consent-vendor-list" type="application/json">%s</script>`, consent)
	flags := map[string]any{}
	for i := range 45 {
		flags[fmt.Sprintf("%s_%s_%d", w.pick([]string{"enable", "exp", "ff", "show"}), strings.ToLower(w.pick(sections)), i)] = w.r.IntN(2) == 1
	}
	flagJSON, _ := json.Marshal(flags)
	fmt.Fprintf(&b, `<script>window.__FEATURE_FLAGS__=%s;window.__BUILD__={"id":"%s","sha":"%s","region":"eu-west-1"};</script>`, flagJSON, w.hash(10), w.hash(40))
	for _, n := range fragment(head, b.String()) {
		head.AppendChild(n)
	}
}

func findTitle(n *html.Node) *html.Node {
	if n.Type == html.ElementNode && n.DataAtom == atom.Title {
		return n
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if t := findTitle(c); t != nil {
			return t
		}
	}
	return &html.Node{}
}

func (w *weigher) chunks() string {
	var b strings.Builder
	for _, c := range []string{"webpack", "framework", "main", "pages/_app", "pages/[slug]", "commons", "analytics", "consent", "ads", "video-player", "comments", "paywall"} {
		fmt.Fprintf(&b, `<script src="https://cdn.example.net/_next/static/chunks/%s-%s.js" defer=""></script>`, c, w.hash(16))
	}
	fmt.Fprintf(&b, `<noscript><iframe src="https://www.googletagmanager.example/ns.html?id=GTM-%s" height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>`, strings.ToUpper(w.hash(6)))
	return b.String()
}
