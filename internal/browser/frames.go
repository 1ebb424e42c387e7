package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// The frames of a page. Observations, actions, the settle wait and Page
// reach into iframes, same-origin or not, in the page's process or out of
// it: each frame is evaluated in its own JavaScript context, and its
// iframe element in the parent carries the frame's id (tagOwners), so that
// the parent's answer can say where a frame's answer goes.

// frameInfo is what the tab knows of one frame of its page.
type frameInfo struct {
	id     cdp.FrameID
	parent cdp.FrameID // "" for the main frame
	url    string
	origin string
	// sess is the session the frame's document lives in: nil for the
	// page's own, else an out-of-process frame's target (the frame itself
	// or an out-of-process ancestor of the same site).
	sess *frameTarget
	// ctx is the frame's main JavaScript context, 0 while it has none.
	ctx       runtime.ExecutionContextID
	ctxUnique string
	// tagged is set once the frame's iframe element in its parent's
	// document carries the frame's id.
	tagged bool
	// loading is when the frame started loading a document, zero once it
	// stopped.
	loading time.Time
	// blocked is the network policy's refusal of the frame's document,
	// of blockedURL.
	blocked, blockedURL string
}

// frame returns the frame's record, creating it; t.mu is held.
func (t *chromiumTab) frame(id cdp.FrameID) *frameInfo {
	f := t.frames[id]
	if f == nil {
		f = &frameInfo{id: id}
		t.frames[id] = f
	}
	return f
}

func (t *chromiumTab) frameAttached(id, parent cdp.FrameID) {
	f := t.frame(id)
	f.parent = parent
}

func (t *chromiumTab) frameNavigated(src *frameTarget, fr *cdp.Frame) {
	if fr == nil {
		return
	}
	f := t.frame(fr.ID)
	if fr.ParentID != "" {
		f.parent = fr.ParentID
	} else if src != nil && src.frameID == fr.ID {
		// An out-of-process frame's session reports its frame as a root;
		// its parent is known from the parent's session.
	} else {
		f.parent = ""
	}
	f.url = fr.URL + fr.URLFragment
	f.origin = fr.SecurityOrigin
	for _, c := range t.frames {
		if c.parent == f.id {
			c.tagged = false
		}
	}
}

func (t *chromiumTab) frameDetached(id cdp.FrameID) {
	delete(t.frames, id)
	for _, c := range t.frames {
		if c.parent == id {
			t.frameDetached(c.id)
		}
	}
}

// frameDoc is a frame's document request.
type frameDoc struct {
	frame cdp.FrameID
	url   string
}

// frameRequest notes that a frame requests a new document (or is
// redirected to one).
func (t *chromiumTab) frameRequest(req network.RequestID, id cdp.FrameID, url string) {
	t.frame(id).blocked = ""
	if len(t.frameDocs) < maxNetwork {
		t.frameDocs[req] = frameDoc{frame: id, url: url}
	}
}

// frameFailed notes a frame's document request that failed: refused, when
// the proxy refused its host (an https frame's tunnel).
func (t *chromiumTab) frameFailed(req network.RequestID) {
	d, ok := t.frameDocs[req]
	if !ok {
		return
	}
	delete(t.frameDocs, req)
	u, err := url.Parse(d.url)
	if err != nil {
		return
	}
	if reason, ok := t.sess.proxy.refusal(refusedHost(u.Scheme, u.Hostname(), u.Port())); ok {
		f := t.frame(d.frame)
		f.blocked, f.blockedURL = reason, d.url
	}
}

// frameResponse notes the answer to a frame's document request: the
// proxy's refusal, when it refused.
func (t *chromiumTab) frameResponse(id cdp.FrameID, url, blocked string) {
	f := t.frame(id)
	f.blocked, f.blockedURL = blocked, url
}

func (t *chromiumTab) contextCreated(src *frameTarget, c *runtime.ExecutionContextDescription) {
	if c == nil {
		return
	}
	var aux struct {
		FrameID   cdp.FrameID `json:"frameId"`
		IsDefault bool        `json:"isDefault"`
	}
	if json.Unmarshal(c.AuxData, &aux) != nil || aux.FrameID == "" || !aux.IsDefault {
		return
	}
	f := t.frame(aux.FrameID)
	f.sess, f.ctx, f.ctxUnique = src, c.ID, c.UniqueID
	if f.id == t.frameID {
		// A new main document: its elements are numbered afresh.
		t.nextID, t.elems = 1, map[int]cdp.FrameID{}
	}
	// A new document: the iframe elements in it carry no ids yet.
	for _, ch := range t.frames {
		if ch.parent == f.id {
			ch.tagged = false
		}
	}
}

func (t *chromiumTab) contextDestroyed(src *frameTarget, unique string) {
	for _, f := range t.frames {
		if f.sess == src && f.ctxUnique == unique {
			f.ctx, f.ctxUnique = 0, ""
		}
	}
}

func (t *chromiumTab) contextsCleared(src *frameTarget) {
	for _, f := range t.frames {
		if f.sess == src {
			f.ctx, f.ctxUnique = 0, ""
		}
	}
}

// forgetTarget drops what an out-of-process frame's session reported.
func (t *chromiumTab) forgetTarget(src *frameTarget) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.frames {
		if f.sess == src {
			f.ctx, f.ctxUnique, f.sess = 0, "", nil
		}
	}
}

// frameRef is a frame as a call needs it, copied out from under t.mu.
type frameRef struct {
	id     cdp.FrameID
	parent cdp.FrameID
	url    string
	sess   cdp.Session
	ctx    runtime.ExecutionContextID
	main   bool
}

// ref returns the frame's session and context; ok is false for a frame
// without a context (not loaded, gone, or refused). t.mu is held.
func (t *chromiumTab) ref(id cdp.FrameID) (frameRef, bool) {
	f := t.frames[id]
	if f == nil {
		return frameRef{}, false
	}
	r := frameRef{id: f.id, parent: f.parent, url: f.url, ctx: f.ctx, main: f.id == t.frameID}
	if f.sess != nil {
		r.sess = f.sess
	} else {
		r.sess = chromedp.FromContext(t.ctx).Target
	}
	return r, r.main || f.ctx != 0
}

// lockedRef is ref for a caller that does not hold t.mu.
func (t *chromiumTab) lockedRef(id cdp.FrameID) (frameRef, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ref(id)
}

// elementFrame is the frame of a numbered element: the frame the
// observation (or Candidates) found it in, the main frame for a number it
// did not give.
func (t *chromiumTab) elementFrame(id int) (frameRef, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fid, ok := t.elems[id]
	if !ok {
		fid = t.frameID
	}
	return t.ref(fid)
}

// children lists the frames whose parent is id. t.mu is held.
func (t *chromiumTab) children(id cdp.FrameID) []*frameInfo {
	var out []*frameInfo
	for _, f := range t.frames {
		if f.parent == id {
			out = append(out, f)
		}
	}
	return out
}

// evalIn evaluates expr in a frame's context and decodes its JSON value.
// The main frame is evaluated as evalJS does; a frame that does not answer
// in time fails the call, not the tab.
func evalIn[T any](t *chromiumTab, ctx context.Context, f frameRef, what, expr string) (T, error) {
	if f.main {
		return evalJS[T](t, ctx, what, expr)
	}
	var v T
	err := t.run(ctx, t.c.cfg.CallTimeout, what, func(ctx context.Context) error {
		res, err := cdp.Call(ctx, f.sess, runtime.Evaluate, runtime.EvaluateParams{
			Expression: expr, ContextID: f.ctx, ReturnByValue: ptr(true), AwaitPromise: ptr(true),
		})
		if err != nil {
			return err
		}
		if res.ExceptionDetails != nil {
			return &chromedp.ExceptionError{ExceptionDetails: res.ExceptionDetails}
		}
		if res.Result == nil || len(res.Result.Value) == 0 {
			return fmt.Errorf("%s: no value", what)
		}
		return json.Unmarshal(res.Result.Value, &v)
	})
	return v, err
}

// tagOwnersJS marks an iframe element with the id of the frame it holds.
const tagOwnersJS = `function (id) {
  this.__errandFrameId = id;
  (window.__errandFrameEls || (window.__errandFrameEls = new Map())).set(id, this);
}`

// tagOwners marks, in a frame's document, the iframe elements of its child
// frames with their ids. A frame whose element cannot be found stays
// untagged, and is left out of what the parent's answers show.
func (t *chromiumTab) tagOwners(ctx context.Context, parent frameRef) {
	t.mu.Lock()
	var todo []cdp.FrameID
	for _, c := range t.children(parent.id) {
		if !c.tagged {
			todo = append(todo, c.id)
		}
	}
	t.mu.Unlock()
	for _, id := range todo {
		err := t.run(ctx, t.c.cfg.CallTimeout, "finding a frame's element", func(ctx context.Context) error {
			owner, err := cdp.Call(ctx, parent.sess, dom.GetFrameOwner, dom.GetFrameOwnerParams{FrameID: id})
			if err != nil {
				return err
			}
			params := dom.ResolveNodeParams{BackendNodeID: owner.BackendNodeID}
			if !parent.main {
				params.ExecutionContextID = parent.ctx
			}
			obj, err := cdp.Call(ctx, parent.sess, dom.ResolveNode, params)
			if err != nil || obj.Object == nil {
				return err
			}
			defer cdp.Call(ctx, parent.sess, runtime.ReleaseObject, runtime.ReleaseObjectParams{ObjectID: obj.Object.ObjectID})
			arg, _ := json.Marshal(string(id))
			_, err = cdp.Call(ctx, parent.sess, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
				FunctionDeclaration: tagOwnersJS, ObjectID: obj.Object.ObjectID,
				Arguments: []*runtime.CallArgument{{Value: arg}},
			})
			return err
		})
		if err == nil {
			t.mu.Lock()
			if f := t.frames[id]; f != nil {
				f.tagged = true
			}
			t.mu.Unlock()
		}
	}
}

// frameOffset is where a frame's viewport starts in the page's, in CSS
// pixels: the sum of its iframe elements' content boxes up to the main
// frame.
func (t *chromiumTab) frameOffset(ctx context.Context, f frameRef) (x, y float64, err error) {
	for !f.main {
		parent, ok := t.lockedRef(f.parent)
		if !ok {
			return 0, 0, fmt.Errorf("the frame of %s is gone", f.url)
		}
		type rect struct{ X, Y float64 }
		r, err := evalIn[rect](t, ctx, parent, "finding a frame", fmt.Sprintf(`(() => {
  const el = window.__errandFrameEls && window.__errandFrameEls.get(%q);
  if (!el || !el.isConnected) throw new Error('the frame is gone');
  const b = el.getBoundingClientRect(), s = getComputedStyle(el);
  return { X: b.left + el.clientLeft + parseFloat(s.paddingLeft), Y: b.top + el.clientTop + parseFloat(s.paddingTop) };
})()`, f.id))
		if err != nil {
			return 0, 0, err
		}
		x, y = x+r.X, y+r.Y
		f = parent
	}
	return x, y, nil
}

// ElementURL implements Tab.
func (t *chromiumTab) ElementURL(id int) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if fid, ok := t.elems[id]; ok && fid != t.frameID {
		if f := t.frames[fid]; f != nil && f.url != "" {
			return f.url
		}
	}
	return t.url
}
