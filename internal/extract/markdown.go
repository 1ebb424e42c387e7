package extract

import (
	"bytes"
	"strings"

	"codeberg.org/readeck/go-readability/v2"
	htmltomarkdown "github.com/JohannesKaufmann/html-to-markdown/v2/converter"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/base"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/commonmark"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/strikethrough"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/table"
	"golang.org/x/net/html"
)

// article runs readability (Mozilla's algorithm) on a copy of the page: it
// finds the main content and drops navigation, ads, scripts and styles.
func (pg *page) article() (readability.Article, error) {
	return readability.FromReader(bytes.NewReader(pg.html), pg.url)
}

// markdown renders the page's main content: "# Title", then the body with
// its headings, paragraphs, lists, tables and links (absolute, as
// readability leaves them). When readability finds no article (a page that
// is all navigation, or too short), the body outside page furniture is
// converted instead, so the answer is never empty while the page has text.
func (pg *page) markdown() (string, error) {
	title := ""
	var content *html.Node
	if art, err := pg.article(); err == nil {
		title = clean(art.Title())
		content = art.Node
	}
	// The main heading beats a <title> that carries the site's name too
	// ("Ergo Office Chair Pro | Seatwise").
	if names := pg.basics().fields["name"]; len(names) > 0 {
		if h, _ := names[0].(string); h != "" && (title == "" || (strings.Contains(title, h) && len(h) < len(title))) {
			title = h
		}
	}
	body := ""
	if content != nil {
		// Readability keeps a short page whole, navigation included.
		pruneFurniture(content, false)
		body = pg.convertMarkdown(content)
	}
	if strings.TrimSpace(body) == "" {
		body = pg.convertMarkdown(pg.furnitureFree())
	}
	body = strings.TrimSpace(body)
	// Readability drops a heading that repeats the title; put the title
	// back once, on top, unless the body already starts with it.
	if title != "" && !strings.HasPrefix(body, "# "+title) {
		body = strings.TrimSpace("# " + title + "\n\n" + body)
	}
	return body + "\n", nil
}

func (pg *page) convertMarkdown(n *html.Node) string {
	conv := htmltomarkdown.NewConverter(htmltomarkdown.WithPlugins(
		base.NewBasePlugin(),
		commonmark.NewCommonmarkPlugin(),
		strikethrough.NewStrikethroughPlugin(),
		table.NewTablePlugin(),
	))
	var opts []htmltomarkdown.ConvertOptionFunc
	if pg.url != nil {
		opts = append(opts, htmltomarkdown.WithDomain(pg.url.String()))
	}
	out, err := conv.ConvertNode(n, opts...)
	if err != nil {
		return ""
	}
	return string(out)
}

// furnitureFree is a copy of the body without navigation, header, footer,
// sidebars, scripts, styles and forms.
func (pg *page) furnitureFree() *html.Node {
	body := pg.bodyNode()
	var buf bytes.Buffer
	if err := html.Render(&buf, body); err != nil {
		return body
	}
	doc, err := html.Parse(&buf)
	if err != nil {
		return body
	}
	pruneFurniture(doc, true)
	return doc
}

// pruneFurniture removes what is never content: scripts and styles, forms,
// navigation, sidebars, footers, and with siteHeader the site's header
// (readability's output keeps only an article's own header, which it may
// hold the byline in).
func pruneFurniture(n *html.Node, siteHeader bool) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && furnitureTag(c, siteHeader) {
			n.RemoveChild(c)
		} else {
			pruneFurniture(c, siteHeader)
		}
		c = next
	}
}

func furnitureTag(n *html.Node, siteHeader bool) bool {
	switch n.Data {
	case "nav", "aside", "footer", "form", "button":
		return true
	case "header":
		if siteHeader && !hasAncestor(n, "article", "main") {
			return true
		}
	}
	if skipTags[n.Data] {
		return true
	}
	role, _ := attr(n, "role")
	return role == "navigation" || role == "banner" || role == "contentinfo"
}
