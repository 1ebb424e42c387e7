package browser

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/cdproto/cdp"

	"github.com/errandhq/errand/internal/recipe"
)

// describeJS describes elements and pages for learned tasks; see the
// comment at its top.
//
//go:embed describe.js
var describeJS string

// preludeJS holds what observe.js and describe.js share; see the comment
// at its top.
//
//go:embed prelude.js
var preludeJS string

// withPrelude is the expression that calls script (a function whose first
// parameter takes prelude.js's helpers) with the helpers and args, each
// args a JavaScript expression.
func withPrelude(script string, args ...string) string {
	return "(" + script + ")((" + preludeJS + ")()" + strings.Join(append([]string{""}, args...), ", ") + ")"
}

// Inspector is what learned tasks (package recipe) need of a page besides
// its Tab: Chromium's tabs implement it. It reads the page only; acting
// stays with the Tab, on the numbers Candidates gives. Frames are part of
// the page: their elements are described, listed and numbered like the
// page's own, each with its frame (recipe.Element's Frame and FrameURL).
type Inspector interface {
	// Describe describes the element behind an observation number, in
	// terms that outlive the numbering.
	Describe(ctx context.Context, id int) (recipe.Element, error)
	// Candidates lists the page's interactive elements with their
	// descriptions and numbers, hidden ones marked: the page's in page
	// order, then each frame's.
	Candidates(ctx context.Context) ([]recipe.Candidate, error)
	// State reports the page's landmarks for its fingerprint and, with
	// texts set, the text of every visible element that holds text; a
	// frame's are added to the page's, its texts' paths starting with the
	// frame's (see framePrefix).
	State(ctx context.Context, texts bool) (recipe.PageState, error)
	// Quiet reports whether the page has settled (see Tab): nothing in
	// flight on the network and, in every frame, no pending work and no
	// recent change. What a settled page lacks will not come by waiting.
	Quiet(ctx context.Context) bool
}

// Quiet implements Inspector: one look at what waitSettled waits for.
func (t *chromiumTab) Quiet(ctx context.Context) bool {
	ready, _, _, _ := t.lookSettled(ctx, time.Now().Add(time.Duration(t.settleD.Load())), false)
	return ready
}

func describeCall(cmd string, arg any) string {
	return withPrelude(describeJS, jsString(cmd), fmt.Sprint(arg))
}

// Describe implements Inspector, in the frame that holds the element.
func (t *chromiumTab) Describe(ctx context.Context, id int) (recipe.Element, error) {
	f, ok := t.elementFrame(id)
	if !ok {
		return recipe.Element{}, fmt.Errorf("there is no element [%d] on the page any more", id)
	}
	el, err := evalIn[recipe.Element](t, ctx, f, "describing an element", describeCall("describe", id))
	if err != nil || f.main {
		return el, err
	}
	el.Frame, err = t.framePath(ctx, f)
	if err != nil {
		return el, err
	}
	el.FrameURL = recipe.URLPattern(f.url)
	return el, nil
}

// framePath is a frame's place on the page as recipes record it: its
// position (from 1) among the frames its parent's document shows, after
// its parent's own path: "2", "1/3".
func (t *chromiumTab) framePath(ctx context.Context, f frameRef) (string, error) {
	var path []string
	for !f.main {
		parent, ok := t.lockedRef(f.parent)
		if !ok {
			return "", fmt.Errorf("the frame of %s is gone", f.url)
		}
		t.tagOwners(ctx, parent)
		ids, err := evalIn[[]cdp.FrameID](t, ctx, parent, "finding a frame", describeCall("frames", 0))
		if err != nil {
			return "", err
		}
		k := slices.Index(ids, f.id)
		if k < 0 {
			return "", fmt.Errorf("the frame of %s is not shown", f.url)
		}
		path = append([]string{strconv.Itoa(k + 1)}, path...)
		f = parent
	}
	return strings.Join(path, "/"), nil
}

// shownFrame is a frame reached by walkFrames.
type shownFrame struct {
	ref  frameRef
	path string // "" for the main frame, else as framePath
}

// walkFrames calls visit with the main frame, then, depth first and in
// document order, each frame the page shows, up to maxFrameDepth deep and
// maxFrames in all; visit returns the ids of the frames the one it was
// given shows. A frame that is not loaded, or cannot be read, is left out;
// a page that cannot be read is an error.
func (t *chromiumTab) walkFrames(ctx context.Context, visit func(f shownFrame) ([]cdp.FrameID, error)) error {
	main, _ := t.lockedRef(t.frameID)
	n := 0
	var walk func(f shownFrame, depth int) error
	walk = func(f shownFrame, depth int) error {
		t.tagOwners(ctx, f.ref)
		kids, err := visit(f)
		if err != nil {
			return err
		}
		for i, id := range kids {
			if id == "" || depth >= maxFrameDepth || n >= maxFrames {
				continue
			}
			ref, ok := t.lockedRef(id)
			if !ok {
				continue
			}
			n++
			path := strconv.Itoa(i + 1)
			if f.path != "" {
				path = f.path + "/" + path
			}
			if err := walk(shownFrame{ref: ref, path: path}, depth+1); err != nil {
				if ctx.Err() != nil || t.usable(ctx) != nil {
					return err
				}
			}
		}
		return nil
	}
	return walk(shownFrame{ref: main}, 0)
}

// Candidates implements Inspector: every frame's elements, numbered as
// the observation numbers them (one count over the page's frames).
func (t *chromiumTab) Candidates(ctx context.Context) ([]recipe.Candidate, error) {
	type answer struct {
		URL    string             `json:"url"`
		List   []recipe.Candidate `json:"list"`
		Next   int                `json:"next"`
		Frames []cdp.FrameID      `json:"frames"`
	}
	t.mu.Lock()
	next := max(t.nextID, 1)
	t.mu.Unlock()
	elems := map[int]cdp.FrameID{}
	var all []recipe.Candidate
	err := t.walkFrames(ctx, func(f shownFrame) ([]cdp.FrameID, error) {
		a, err := evalIn[answer](t, ctx, f.ref, "listing the page's elements", describeCall("candidates", next))
		if err != nil {
			return nil, err
		}
		next = max(next, a.Next)
		for i := range a.List {
			c := &a.List[i]
			elems[c.ID] = f.ref.id
			if !f.ref.main {
				c.Frame, c.FrameURL = f.path, recipe.URLPattern(a.URL)
			}
		}
		all = append(all, a.List...)
		return a.Frames, nil
	})
	t.mu.Lock()
	t.nextID = max(t.nextID, next)
	for id, f := range elems {
		t.elems[id] = f
	}
	t.mu.Unlock()
	return all, err
}

// State implements Inspector: the page's state with its frames'.
func (t *chromiumTab) State(ctx context.Context, texts bool) (recipe.PageState, error) {
	type answer struct {
		recipe.PageState
		Frames []cdp.FrameID `json:"frames"`
	}
	var st recipe.PageState
	err := t.walkFrames(ctx, func(f shownFrame) ([]cdp.FrameID, error) {
		a, err := evalIn[answer](t, ctx, f.ref, "reading the page's state", describeCall("state", texts))
		if err != nil {
			return nil, err
		}
		if f.ref.main {
			st = a.PageState
			return a.Frames, nil
		}
		st.Headings = append(st.Headings, a.Headings...)
		st.Fields = append(st.Fields, a.Fields...)
		st.Controls = append(st.Controls, a.Controls...)
		prefix := framePrefix(f.path)
		for _, x := range a.Texts {
			x.Path = prefix + x.Path
			st.Texts = append(st.Texts, x)
		}
		return a.Frames, nil
	})
	return st, err
}

// framePrefix starts the paths of a frame's texts: a segment "frame:k"
// for each step of its path, "1/3" giving "frame:1/frame:3/" (no element
// of a page's <body> is a <frame>).
func framePrefix(path string) string {
	var b strings.Builder
	for k := range strings.SplitSeq(path, "/") {
		b.WriteString("frame:" + k + "/")
	}
	return b.String()
}
