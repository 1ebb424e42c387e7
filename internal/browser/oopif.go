package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/chromedp/cdproto"
	"github.com/chromedp/cdproto/cdp"
	jsonv2 "github.com/chromedp/cdproto/cdp/jsonv2"
	"github.com/chromedp/cdproto/dom"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Out-of-process frames. A cross-site iframe may run in a renderer of its
// own (always under site isolation, as in a full Chrome; Debian's headless
// shell keeps most of them in the page's process). It is then a DevTools
// target of its own, which the page's session attaches to automatically
// (Target.setAutoAttach), paused before its document runs, so that the
// settle tracker is installed first, as in the page.
//
// chromedp routes the messages of the sessions it attached itself only, so
// the frame's session is not flattened: its commands and events travel
// inside the parent session's Target.sendMessageToTarget and
// Target.receivedMessageFromTarget. frameTarget speaks that tunnel and
// implements cdp.Session, so the rest of the code calls a frame's target
// as it calls the page's.

// autoAttach makes a session (the page's, or an out-of-process frame's, for
// the frames inside it) attach to its out-of-process frames, paused.
var autoAttach = target.SetAutoAttachParams{
	AutoAttach:             true,
	WaitForDebuggerOnStart: true,
	Flatten:                ptr(false),
	Filter:                 target.Filter{{Type: "iframe"}, {Exclude: true}},
}

// frameTarget is an out-of-process frame's DevTools session, tunneled
// through its parent's session (or a new page's, through the browser's:
// see earlyTracker).
type frameTarget struct {
	tab     *chromiumTab // nil: the session's events are not wanted
	parent  cdp.Session  // the session that attached it
	session target.SessionID
	frameID cdp.FrameID // an out-of-process frame's target id is its frame id

	next    atomic.Int64
	mu      sync.Mutex
	pending map[int64]chan *cdproto.Message
	// children are the out-of-process frames inside this one.
	children map[target.SessionID]*frameTarget
	gone     bool
}

// Call implements cdp.Session.
func (f *frameTarget) Call(ctx context.Context, method string, params, res any) error {
	id := f.next.Add(1)
	msg := &cdproto.Message{ID: id, Method: cdproto.MethodType(method)}
	if params != nil {
		b, err := jsonv2.Marshal(params, chromedp.DefaultMarshalOptions)
		if err != nil {
			return err
		}
		msg.Params = b
	}
	raw, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ch := make(chan *cdproto.Message, 1)
	f.mu.Lock()
	if f.gone {
		f.mu.Unlock()
		return errFrameGone
	}
	f.pending[id] = ch
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.pending, id)
		f.mu.Unlock()
	}()
	type sendParams struct {
		Message   string           `json:"message"`
		SessionID target.SessionID `json:"sessionId"`
	}
	if err := f.parent.Call(ctx, "Target.sendMessageToTarget", sendParams{Message: string(raw), SessionID: f.session}, nil); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case reply := <-ch:
		if reply == nil {
			return errFrameGone
		}
		if reply.Error != nil {
			return reply.Error
		}
		if res != nil {
			return jsonv2.Unmarshal(reply.Result, res, chromedp.DefaultUnmarshalOptions)
		}
		return nil
	}
}

// Subscribe implements cdp.Session; a frame's events reach the tab through
// receive, so there is nothing to subscribe to.
func (f *frameTarget) Subscribe(string) (<-chan jsonv2.Value, func()) {
	ch := make(chan jsonv2.Value)
	close(ch)
	return ch, func() {}
}

var errFrameGone = errors.New("the frame is gone")

// receive takes one message of the frame's session, on the page's event
// goroutine: replies go to their callers, events to the tab.
func (f *frameTarget) receive(raw string) {
	msg := new(cdproto.Message)
	if err := jsonv2.Unmarshal([]byte(raw), msg, chromedp.DefaultUnmarshalOptions); err != nil {
		return
	}
	if msg.ID != 0 {
		f.mu.Lock()
		ch := f.pending[msg.ID]
		f.mu.Unlock()
		if ch != nil {
			ch <- msg
		}
		return
	}
	if f.tab == nil {
		return
	}
	ev, err := cdproto.UnmarshalMessage(msg, chromedp.DefaultUnmarshalOptions)
	if err != nil {
		return
	}
	f.tab.onFrameEvent(f, ev)
}

// route hands the browser session's tunneled messages to their sessions;
// it runs on the browser's reader goroutine.
func (inst *instance) route(ev any) {
	switch ev := ev.(type) {
	case *target.EventReceivedMessageFromTarget:
		if f, ok := inst.tunnels.Load(ev.SessionID); ok {
			f.(*frameTarget).receive(ev.Message)
		}
	case *target.EventDetachedFromTarget:
		if f, ok := inst.tunnels.LoadAndDelete(ev.SessionID); ok {
			f.(*frameTarget).detach()
		}
	}
}

// earlyTracker installs the settle tracker in a page that has just been
// opened (a new tab, a popup), before the page is attached to for good
// (chromedp's attach takes a dozen round trips, by which time a fast
// site's first document has run its scripts). It attaches a session of
// its own through the browser's, not flattened, and registers the tracker
// at once; the session lives as long as the page, which keeps the
// registration. On a site that answers within a few milliseconds (on
// loopback) the first document can still win the race.
func (c *Chromium) earlyTracker(ctx context.Context, inst *instance, id target.ID) error {
	res, err := cdp.Call(ctx, inst.browser, target.AttachToTarget, target.AttachToTargetParams{TargetID: id, Flatten: ptr(false)})
	if err != nil {
		return err
	}
	f := &frameTarget{parent: inst.browser, session: res.SessionID, frameID: cdp.FrameID(id),
		pending: map[int64]chan *cdproto.Message{}, children: map[target.SessionID]*frameTarget{}}
	inst.tunnels.Store(res.SessionID, f)
	// No Page.enable first: its answer waits for the page's navigation,
	// and the registration does not need it.
	return f.Call(ctx, page.CommandAddScriptToEvaluateOnNewDocument,
		page.AddScriptToEvaluateOnNewDocumentParams{Source: settleJS, RunImmediately: ptr(true)}, nil)
}

// detach ends the session: calls waiting on it fail.
func (f *frameTarget) detach() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gone {
		return
	}
	f.gone = true
	for id, ch := range f.pending {
		select {
		case ch <- nil:
		default: // its reply is there already
		}
		delete(f.pending, id)
	}
	for _, c := range f.children {
		go c.detach()
	}
}

// route hands a tunneled message or a session's end to the frame session
// it belongs to, among those src attached. It runs on the page's event
// goroutine and reports whether ev was one of those.
func (t *chromiumTab) route(src *frameTarget, ev any) bool {
	children := func() map[target.SessionID]*frameTarget {
		if src == nil {
			return t.oopifs
		}
		return src.children
	}
	switch ev := ev.(type) {
	case *target.EventAttachedToTarget:
		if ev.TargetInfo == nil || ev.TargetInfo.Type != "iframe" {
			return true
		}
		var parent cdp.Session = src
		if src == nil {
			parent = chromedp.FromContext(t.ctx).Target
		}
		f := &frameTarget{tab: t, parent: parent, session: ev.SessionID, frameID: cdp.FrameID(ev.TargetInfo.TargetID),
			pending: map[int64]chan *cdproto.Message{}, children: map[target.SessionID]*frameTarget{}}
		t.mu.Lock()
		children()[ev.SessionID] = f
		t.mu.Unlock()
		go t.startFrame(f)
		return true
	case *target.EventReceivedMessageFromTarget:
		t.mu.Lock()
		f := children()[ev.SessionID]
		t.mu.Unlock()
		if f != nil {
			f.receive(ev.Message)
		}
		return true
	case *target.EventDetachedFromTarget:
		t.mu.Lock()
		f := children()[ev.SessionID]
		delete(children(), ev.SessionID)
		t.mu.Unlock()
		if f != nil {
			f.detach()
			t.forgetTarget(f)
		}
		return true
	}
	return false
}

// startFrame prepares a paused out-of-process frame like the page (events,
// the settle tracker, its own out-of-process frames), then lets it run. A
// frame that cannot be prepared still runs, unobserved.
func (t *chromiumTab) startFrame(f *frameTarget) {
	ctx, cancel := context.WithTimeout(t.ctx, t.c.cfg.CallTimeout)
	defer cancel()
	steps := []struct {
		method string
		params any
	}{
		{runtime.CommandEnable, nil},
		{page.CommandEnable, nil},
		{network.CommandEnable, network.EnableParams{}},
		{dom.CommandEnable, dom.EnableParams{}},
		{page.CommandAddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: settleJS}},
		{target.CommandSetAutoAttach, autoAttach},
	}
	for _, s := range steps {
		if err := f.Call(ctx, s.method, s.params, nil); err != nil {
			t.c.log.Debug("browser: preparing an out-of-process frame", "step", s.method, "err", err)
			break
		}
	}
	if err := f.Call(ctx, runtime.CommandRunIfWaitingForDebugger, nil, nil); err != nil {
		t.c.log.Debug("browser: resuming an out-of-process frame", "err", fmt.Sprint(err))
	}
}
