// The settle tracker: installed before any script of a document runs, in
// every frame (Page.addScriptToEvaluateOnNewDocument), it keeps what errand
// needs to tell when a page has drawn itself after a load or an action:
//
//   - when the DOM last changed in a way that moves the layout (elements or
//     text added or removed, text edited, class, style and a few other
//     attributes), leaving out targets that change continuously (a ticking
//     clock redrawn several times a second, a script-driven carousel or
//     marquee): a target changed three times within half a second is
//     animating, and its changes no longer count while that lasts. CSS
//     animations and transitions change no DOM at all;
//   - the work the page has scheduled that may draw more: one-shot timers
//     (setTimeout), animation frames and idle callbacks, fetch and
//     XMLHttpRequest calls until their body is read, message-channel hops
//     (the React scheduler's way of yielding) until they are handled, and
//     the scripts the page has received (the Go side counts them) until
//     the renderer has got to them. Work scheduled by a timer or frame
//     callback (a clock's next tick, an animation loop, a poll written as
//     `while (true) { await sleep(1000); … }`) is a continuation: it is
//     waited for only while its delay is short (a render split into 0 ms
//     chunks), so a page that polls or ticks forever does not hold the
//     wait;
//   - when an action began (check's epoch, the browser's Date.now() read
//     just before it): timers set before it belong to the page's earlier
//     life (an analytics flush in 2 s) and are not waited for.
//
// check() answers for this frame and the same-origin frames inside it;
// errand's Go side adds the network and the frames it cannot reach from
// here (cross-origin), and bounds the whole wait by the settle timeout.
(() => {
  if (window.__errandSettle) return;
  const perf = performance;
  const now = () => perf.now();
  const W = window;
  const origSetTimeout = W.setTimeout;
  const origClearTimeout = W.clearTimeout;
  const origClearInterval = W.clearInterval;
  const origRAF = W.requestAnimationFrame;
  const origCancelRAF = W.cancelAnimationFrame;
  const origRIC = W.requestIdleCallback;
  const origCancelRIC = W.cancelIdleCallback;
  const origFetch = W.fetch;
  const XHR = W.XMLHttpRequest;
  const origSend = XHR && XHR.prototype.send;
  const MP = W.MessagePort;
  const origPost = MP && MP.prototype.postMessage;

  // A continuation's delay up to which it is still waited for (render
  // chunks), and how many links of such a chain are.
  const SHORT = 20;
  const MAX_CHAIN = 10;
  // The animating rule: this many counted changes of one target within
  // this window.
  const ANIM_COUNT = 3;
  const ANIM_WINDOW = 500;
  // A tracker installed in a running document (a new tab attached to late)
  // has not seen what the page scheduled before: the DOM must have been
  // quiet this long instead.
  const LATE_QUIET = 400;
  // How long a window.close() is given to take effect, and a navigation
  // the page began to show in the browser's events.
  const CLOSING = 500;
  const NAVIGATING = 1000;
  const DOWNLOADING = 100;

  const s = {
    // late: installed after the document began (a page attached to once
    // it had started); what it scheduled before is unknown.
    late: document.readyState !== 'loading' || !!document.body,
    lastChange: now(),
    lastActivity: -Infinity,
    afterLoad: false, // the load event's handlers have not all run yet
    closing: -Infinity, // when the page called window.close()
    navigating: -Infinity, // when the page began leaving for another document
    timers: new Map(), // id -> { due, wall }: due time, Date.now() when set
    frames: new Map(), // id -> { at, wall }: requested at
    idles: new Map(), // id -> { at, wall }
    requests: new Map(), // token -> started at
    chain: -1, // chain depth of the task running now; -1: not a tracked callback
  };

  // chain is reset after the task of a tracked callback (and its
  // microtasks, where `await sleep()` continues) has ended.
  let resetPending = false;
  const ch = new MessageChannel();
  ch.port1.onmessage = () => { s.chain = -1; resetPending = false; };
  const enter = (depth) => {
    s.chain = depth;
    if (!resetPending) {
      resetPending = true;
      origPost.call(ch.port2, 0);
    }
  };
  // counted says whether work scheduled now with this delay is waited for,
  // and returns its chain depth (or -1 when it is not).
  const depthOf = (delay) => {
    if (s.chain < 0) return 0;
    const d = s.chain + 1;
    return delay <= SHORT && d < MAX_CHAIN ? d : -1;
  };

  W.setTimeout = function setTimeout(fn, delay, ...args) {
    if (typeof fn !== 'function') return origSetTimeout.call(W, fn, delay, ...args);
    const d = Math.max(0, Number(delay) || 0);
    const depth = depthOf(d);
    let id = 0;
    const run = function () {
      s.timers.delete(id);
      if (depth >= 0) enter(depth); else enter(MAX_CHAIN);
      return fn.apply(this, args);
    };
    id = origSetTimeout.call(W, run, delay);
    if (depth >= 0) s.timers.set(id, { due: now() + d, wall: Date.now() });
    return id;
  };
  W.clearTimeout = function clearTimeout(id) { s.timers.delete(id); return origClearTimeout.call(W, id); };
  W.clearInterval = function clearInterval(id) { s.timers.delete(id); return origClearInterval.call(W, id); };

  if (origRAF) {
    W.requestAnimationFrame = function requestAnimationFrame(fn) {
      // A frame requested from a frame callback is an animation loop
      // unless it is the second of the "after the next paint" pair.
      const depth = s.chain < 0 ? 0 : (s.chain < 1 ? s.chain + 1 : -1);
      let id = 0;
      id = origRAF.call(W, function (t) {
        s.frames.delete(id);
        enter(depth >= 0 ? depth : MAX_CHAIN);
        return fn.call(this, t);
      });
      if (depth >= 0) s.frames.set(id, { at: now(), wall: Date.now() });
      return id;
    };
    W.cancelAnimationFrame = function cancelAnimationFrame(id) { s.frames.delete(id); return origCancelRAF.call(W, id); };
  }
  if (origRIC) {
    W.requestIdleCallback = function requestIdleCallback(fn, opts) {
      const depth = depthOf(0);
      let id = 0;
      id = origRIC.call(W, function (deadline) {
        s.idles.delete(id);
        enter(depth >= 0 ? depth : MAX_CHAIN);
        return fn.call(this, deadline);
      }, opts);
      if (depth >= 0) s.idles.set(id, { at: now(), wall: Date.now() });
      return id;
    };
    W.cancelIdleCallback = function cancelIdleCallback(id) { s.idles.delete(id); return origCancelRIC.call(W, id); };
  }

  // A request is waited for until its answer is read. When it is, the
  // page's own then() runs next, in the same microtask checkpoint, as a
  // continuation of whatever started the request: a poll loop written as
  // `for (;;) { await sleep(300); await fetch(…) }` sets its next timer
  // as a continuation, and is not waited for.
  const begin = () => {
    const tok = {};
    const depth = s.chain < 0 ? 0 : s.chain + 1;
    s.requests.set(tok, now());
    return () => {
      s.requests.delete(tok);
      s.lastActivity = now();
      enter(depth);
    };
  };
  if (origFetch) {
    W.fetch = function fetch(...args) {
      const done = begin();
      let p;
      try {
        p = origFetch.apply(this, args);
      } catch (e) {
        done();
        throw e;
      }
      p.then(done, done);
      return p;
    };
    const R = W.Response && W.Response.prototype;
    if (R) {
      for (const name of ['json', 'text', 'arrayBuffer', 'blob', 'formData']) {
        const orig = R[name];
        if (typeof orig !== 'function') continue;
        R[name] = function (...args) {
          const done = begin();
          const p = orig.apply(this, args);
          p.then(done, done);
          return p;
        };
      }
    }
  }
  if (origSend) {
    XHR.prototype.send = function send(...args) {
      const done = begin();
      // loadend comes after load, so the page's onload has drawn.
      this.addEventListener('loadend', done, { once: true });
      try {
        return origSend.apply(this, args);
      } catch (e) {
        done();
        throw e;
      }
    };
  }
  // A page leaving for another document (a link, a form, a script setting
  // location) says so at once, in the navigate event: the Go side then
  // waits for the new document instead of reading this one.
  if (W.navigation) {
    W.navigation.addEventListener('navigate', (e) => {
      if (e.destination && e.destination.sameDocument) return;
      // A download stays a download unless its answer is not a file (a
      // refusal, an error page): it is watched a moment only.
      s.navigating = e.downloadRequest !== null ? now() - NAVIGATING + DOWNLOADING : now();
    });
  }
  // A form's submission navigates a task later than its submit event:
  // said at the submit event, once the page's own handlers have let it go
  // on (this listener, on the window and not capturing, runs after them).
  const selfTarget = (t) => !t || t === '_self' || t === W.name;
  W.addEventListener('submit', (e) => {
    const f = e.target;
    const target = (e.submitter && e.submitter.getAttribute('formtarget')) || (f && f.getAttribute('target'));
    if (!e.defaultPrevented && selfTarget(target)) s.navigating = now();
  });
  const FormP = W.HTMLFormElement && W.HTMLFormElement.prototype;
  const origSubmit = FormP && FormP.submit;
  if (origSubmit) {
    FormP.submit = function submit() {
      if (selfTarget(this.getAttribute('target'))) s.navigating = now();
      return origSubmit.apply(this, arguments);
    };
  }

  // What the page's load handlers set off (an application module they
  // import, its first requests) may take a moment to show: the quiet
  // window starts once they have all run, in the task after the event.
  W.addEventListener('load', () => {
    s.afterLoad = true;
    const c = new MessageChannel();
    c.port1.onmessage = () => {
      s.afterLoad = false;
      s.lastActivity = now();
    };
    origPost.call(c.port2, 0);
  });

  // A page that closes itself is not read in between.
  const origClose = W.close;
  W.close = function close() {
    s.closing = now();
    return origClose.apply(this, arguments);
  };

  // A message the page posts on a MessagePort (the React scheduler yields
  // this way) is pending work until its handler has run: a renderer short
  // of CPU may take longer than any quiet window to get to it. Its
  // delivery cannot be seen from here (the receiving port may be
  // anywhere), so the tracker posts a probe of its own right after it:
  // messages to started ports are delivered in the order they were posted
  // (one task source), so once the probe arrives the page's message has
  // been handled. One probe is in flight at a time; when it arrives after
  // the page posted again (a handler yielding once more), another follows.
  let posted = 0; // messages the page has posted
  let probed = -1; // posted when the probe in flight was sent; -1: none
  const probe = new MessageChannel();
  const sendProbe = () => {
    probed = posted;
    origPost.call(probe.port2, 0);
  };
  probe.port1.onmessage = () => {
    s.lastActivity = now();
    if (posted > probed) sendProbe();
    else probed = -1;
  };
  if (origPost) {
    MP.prototype.postMessage = function postMessage(...args) {
      s.lastActivity = now();
      const r = origPost.apply(this, args);
      posted++;
      if (probed < 0) sendProbe();
      return r;
    };
  }

  // A script the page has received runs in a task after its response
  // (and a module only once its last import is in: Blink tells a module's
  // waiters in a task of its own), which a renderer short of CPU may get
  // to after the network has been quiet for a while; check itself, a
  // DevTools call, may run ahead of such tasks. The Go side counts the
  // script requests that have ended, in every frame; a check told of more
  // than this tracker has waited past holds until a background-priority
  // task it then posts has run: such a task runs once no task of a higher
  // priority is pending, so those scripts have run by then, and what they
  // set off is tracked like the rest. (Not an idle callback: while a page
  // loads, Chromium may hold idle periods back for over a second.)
  const sched = W.scheduler;
  const origPostTask = sched && sched.postTask;
  const afterPending = (fn) => {
    if (origPostTask) origPostTask.call(sched, fn, { priority: 'background' });
    else origSetTimeout.call(W, fn, 0);
  };
  let scriptsRun = 0; // the count of ended scripts waited past
  let waitingFor = 0; // the count the task in flight waits past; 0: none
  const scriptsPending = (scripts) => {
    if (scripts <= scriptsRun) return false;
    if (!waitingFor) {
      waitingFor = scripts;
      afterPending(() => {
        scriptsRun = waitingFor;
        waitingFor = 0;
      });
    }
    return true;
  };

  // What a mutation record changes, and whether it counts.
  const IGNORED = new Set(['SCRIPT', 'NOSCRIPT', 'META', 'TEMPLATE', 'BASE', 'TITLE']);
  const ATTRS = ['class', 'style', 'hidden', 'open', 'src', 'srcdoc', 'width', 'height', 'colspan', 'rowspan', 'aria-hidden', 'aria-expanded'];
  const recent = new WeakMap(); // target -> times of its latest counted changes
  const animating = (target, t) => {
    let times = recent.get(target);
    if (!times) {
      times = [];
      recent.set(target, times);
    }
    times.push(t);
    if (times.length > ANIM_COUNT) times.shift();
    return times.length === ANIM_COUNT && t - times[0] < ANIM_WINDOW;
  };
  const visible = (n) => (n.nodeType === 1 ? !IGNORED.has(n.nodeName) : n.nodeType === 3 && /\S/.test(n.data));
  const matters = (r) => {
    switch (r.type) {
      case 'childList': {
        for (const n of r.addedNodes) if (visible(n)) return true;
        for (const n of r.removedNodes) if (visible(n)) return true;
        return false;
      }
      case 'characterData':
        return r.oldValue !== r.target.data;
      default:
        return r.oldValue !== r.target.getAttribute(r.attributeName);
    }
  };
  const mo = new MutationObserver((records) => {
    const t = now();
    if (document.readyState === 'loading') {
      // The parser is still writing the page: every change counts.
      s.lastChange = t;
      return;
    }
    const seen = new Set();
    for (const r of records) {
      const target = r.type === 'characterData' ? r.target.parentNode || r.target : r.target;
      if (seen.has(target) || !matters(r)) continue;
      seen.add(target);
      if (!animating(target, t)) s.lastChange = t;
    }
  });
  mo.observe(document, {
    subtree: true, childList: true, characterData: true, characterDataOldValue: true,
    attributes: true, attributeOldValue: true, attributeFilter: ATTRS,
  });

  // Same-origin frames answer for themselves through their own tracker;
  // cross-origin ones throw on access and are checked by the Go side.
  const childTrackers = () => {
    const out = [];
    for (let i = 0; i < W.frames.length; i++) {
      try {
        const t = W.frames[i].__errandSettle;
        if (t) out.push(t);
      } catch (e) { /* cross-origin */ }
    }
    return out;
  };

  // check reports, for this frame and its same-origin frames, whether the
  // page looks drawn: nothing changed for quiet ms, and no tracked work set
  // since epoch (a Date.now() value) is due within `within` ms (the rest
  // of the settle timeout); requests older than `within` are long polls
  // and do not count; with navs, a navigation the page began (and the
  // browser may not have reported yet) holds it too, and so do scripts
  // received (the count of script requests that ended) and not yet waited
  // past. wait is a hint of how long to wait before asking again.
  const check = (quiet, within, epoch, navs, scripts) => {
    const t = now();
    let wait = 0;
    let why = '';
    const since = Math.max(s.lastChange, s.lastActivity);
    const q = s.late ? Math.max(quiet, LATE_QUIET) : quiet;
    if (t - since < q) {
      wait = q - (t - since);
      why = s.late ? 'late' : 'dom';
    }
    if (s.afterLoad) {
      wait = Math.max(wait, 5);
      why = 'load';
    }
    if (t - s.closing < CLOSING) {
      wait = Math.max(wait, 20);
      why = 'closing';
    }
    if (probed >= 0) {
      wait = Math.max(wait, 5);
      why = 'message';
    }
    if (scriptsPending(scripts)) {
      wait = Math.max(wait, 1);
      why = 'script';
    }
    if (navs && t - s.navigating < NAVIGATING) {
      wait = Math.max(wait, 5);
      why = 'navigating';
    }
    for (const [, timer] of s.timers) {
      if (timer.wall < epoch || timer.due - t > within) continue;
      wait = Math.max(wait, Math.min(50, Math.max(1, timer.due - t)));
      why = 'timer';
    }
    for (const [, f] of s.frames) {
      // A page that gets no frames (hidden) would never run them.
      if (f.wall >= epoch && t - f.at < 200) { wait = Math.max(wait, 16); why = 'frame'; }
    }
    for (const [, f] of s.idles) {
      if (f.wall >= epoch && t - f.at < within) { wait = Math.max(wait, 20); why = 'idle'; }
    }
    for (const [, at] of s.requests) {
      if (t - at < within) { wait = Math.max(wait, 20); why = 'request'; }
    }
    let r = { ready: wait === 0, wait: Math.ceil(wait), why };
    for (const c of childTrackers()) {
      const cr = c.check(quiet, within, epoch, navs, scripts);
      if (!cr.ready) r = { ready: false, wait: Math.max(r.wait, cr.wait), why: r.why || cr.why };
    }
    return r;
  };
  Object.defineProperty(W, '__errandSettle', { value: Object.freeze({ check }) });
})();
