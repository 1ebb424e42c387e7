package browser

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/tiktoken-go/tokenizer/codec"
)

// observeJS walks a frame's DOM and returns its compact view; see the
// comment at its top.
//
//go:embed observe.js
var observeJS string

// serializeJS writes a frame's DOM as HTML with shadow roots and frames in
// place; see the comment at its top.
//
//go:embed serialize.js
var serializeJS string

// Bounds of the frames an observation or Page reaches into: iframes nest
// rarely deeper, and a page of ads can hold dozens.
const (
	maxFrameDepth = 4
	maxFrames     = 20
)

// frameView is observe.js's answer for one frame.
type frameView struct {
	URL    string `json:"url"`
	Title  string `json:"title"`
	Text   string `json:"text"`
	Next   int    `json:"next"`
	IDs    []int  `json:"ids"`
	Frames []struct {
		ID  cdp.FrameID `json:"id"`
		Src string      `json:"src"`
	} `json:"frames"`
}

// Observe returns the compact view of the viewport: its visible text with
// interactive elements numbered, and notes of what lies above and below.
// The frames in view are shown in place, between "--- frame URL ---" and
// "--- end of frame ---", their elements numbered like the page's.
func (t *chromiumTab) Observe(ctx context.Context, opts ObserveOptions) (Observation, error) {
	t.mu.Lock()
	main, _ := t.ref(t.frameID)
	o := &observer{t: t, next: max(t.nextID, 1), elems: map[int]cdp.FrameID{}}
	t.mu.Unlock()
	v, err := o.view(ctx, main, 0)
	if err != nil {
		return Observation{}, err
	}
	t.mu.Lock()
	t.nextID = max(t.nextID, o.next)
	for id, f := range o.elems {
		t.elems[id] = f
	}
	t.mu.Unlock()
	obs := Observation{URL: v.URL, Title: v.Title, Text: v.Text}
	if opts.Screenshot {
		err := t.run(ctx, t.c.cfg.CallTimeout, "taking a screenshot", func(ctx context.Context) error {
			q := int64(70)
			shot, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
				Format: page.CaptureScreenshotFormatJpeg, Quality: &q, OptimizeForSpeed: ptr(true),
			})
			obs.Screenshot = shot.Data
			return err
		})
		if err = t.hung(err); err != nil {
			return Observation{}, err
		}
	}
	return obs, nil
}

// observer is one observation's walk over the frames.
type observer struct {
	t      *chromiumTab
	next   int                 // the first number a new element may take
	elems  map[int]cdp.FrameID // the numbers shown, by frame
	frames int                 // frames observed
}

func (o *observer) view(ctx context.Context, f frameRef, depth int) (frameView, error) {
	o.t.tagOwners(ctx, f)
	args, _ := json.Marshal(map[string]any{"start": o.next, "top": f.main})
	v, err := evalIn[frameView](o.t, ctx, f, "observing the page", observeJS+"("+string(args)+")")
	if err != nil {
		return v, err
	}
	o.next = max(o.next, v.Next)
	for _, id := range v.IDs {
		o.elems[id] = f.id
	}
	for k, fr := range v.Frames {
		ph := fmt.Sprintf("\x01F%d\x01", k)
		v.Text = strings.Replace(v.Text, ph, o.frame(ctx, fr.ID, fr.Src, depth+1), 1)
	}
	if len(v.Frames) > 0 {
		// A frame that shows nothing leaves its line empty; observe.js
		// writes no empty lines of its own.
		for strings.Contains(v.Text, "\n\n") {
			v.Text = strings.ReplaceAll(v.Text, "\n\n", "\n")
		}
		v.Text = strings.Trim(v.Text, "\n")
	}
	return v, nil
}

// frame is the view of one iframe, between its markers.
func (o *observer) frame(ctx context.Context, id cdp.FrameID, src string, depth int) string {
	t := o.t
	t.mu.Lock()
	info := t.frames[id]
	ref, ok := t.ref(id)
	var blocked string
	if info != nil {
		blocked = info.blocked
		switch {
		case blocked != "":
			src = info.blockedURL
		case info.url != "":
			src = info.url
		}
	}
	t.mu.Unlock()
	head := "--- frame " + src
	switch {
	case blocked != "":
		return head + ": blocked: " + blocked + " ---"
	case id == "" || !ok:
		return head + ": not loaded ---"
	case depth > maxFrameDepth || o.frames >= maxFrames:
		return head + ": not shown (too many frames) ---"
	}
	o.frames++
	v, err := o.view(ctx, ref, depth)
	if err != nil {
		if ctx.Err() != nil || t.usable(ctx) != nil {
			return head + " ---"
		}
		return head + ": could not be read ---"
	}
	if v.Text == "" {
		return "" // nothing of it shows
	}
	return head + " ---\n" + v.Text + "\n--- end of frame ---"
}

// Page returns the current URL and the rendered page as HTML, after
// scripts ran: open shadow roots inlined in their hosts and every frame's
// document inlined in a <div data-errand-frame="URL"> where its iframe was
// (see serialize.js).
func (t *chromiumTab) Page(ctx context.Context) (string, []byte, error) {
	t.mu.Lock()
	main, _ := t.ref(t.frameID)
	url := t.url
	t.mu.Unlock()
	type snapshot struct {
		URL  string `json:"url"`
		HTML string `json:"html"`
	}
	t.tagOwners(ctx, main)
	s, err := evalJS[snapshot](t, ctx, "reading the page", `({url: location.href, html: `+serializeJS+`({body: false})})`)
	if err != nil {
		return "", nil, err
	}
	if s.URL == "" {
		s.URL = url
	}
	n := 0
	html, err := t.inlineFrames(ctx, s.HTML, 1, &n)
	return s.URL, []byte(html), err
}

// inlineFrames replaces the frame comments of a serialization with the
// frames' own.
func (t *chromiumTab) inlineFrames(ctx context.Context, html string, depth int, n *int) (string, error) {
	const open = "<!--errand-frame:"
	var b strings.Builder
	for {
		i := strings.Index(html, open)
		if i < 0 {
			b.WriteString(html)
			return b.String(), nil
		}
		j := strings.Index(html[i:], "-->")
		if j < 0 {
			b.WriteString(html)
			return b.String(), nil
		}
		b.WriteString(html[:i])
		id := cdp.FrameID(html[i+len(open) : i+j])
		html = html[i+j+3:]
		if depth > maxFrameDepth || *n >= maxFrames {
			continue
		}
		t.mu.Lock()
		ref, ok := t.ref(id)
		t.mu.Unlock()
		if !ok {
			continue
		}
		*n++
		t.tagOwners(ctx, ref)
		inner, err := evalIn[string](t, ctx, ref, "reading a frame", serializeJS+`({body: true})`)
		if err != nil {
			if ctx.Err() != nil || t.usable(ctx) != nil {
				return "", errors.Join(ctx.Err(), t.usable(ctx))
			}
			continue // a frame that cannot be read is left empty
		}
		inner, err = t.inlineFrames(ctx, inner, depth+1, n)
		if err != nil {
			return "", err
		}
		b.WriteString(inner)
	}
}

func ptr[T any](v T) *T { return &v }

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

var o200k = sync.OnceValue(codec.NewO200kBase)

// CountTokens counts the tokens of s in o200k_base, the encoding of
// OpenAI's current models, offline: a close enough measure for other
// models' tokenizers too.
func CountTokens(s string) int {
	n, err := o200k().Count(s)
	if err != nil {
		return len(s) / 4
	}
	return n
}
