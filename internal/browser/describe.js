// The description script of learned tasks (package recipe): evaluated in
// one frame with the helpers of prelude.js and called as (lib, cmd, arg),
// it describes the element behind an observation number ("describe"),
// lists the interactive elements a recorded one could be now, numbered
// from arg on ("candidates"), and reports the frame's state: its
// landmarks, and with arg set the text of every element that holds text
// ("state"). Candidates and state also list the frames the document shows
// (prelude.js's shownFrames), by the ids the Go side gave their elements,
// for it to go on into them; "frames" lists them alone. Numbers are shared
// with the observation script (prelude.js), so an element found here is
// acted on by the same click, type and select.
(lib, cmd, arg) => {
  const MAX_NAME = 120;
  const MAX_TEXT = 1000;
  const MAX_TEXTS = 8000;
  const MAX_CANDIDATES = 3000;
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'TITLE',
    'SVG', 'CANVAS', 'IFRAME', 'FRAME', 'OBJECT', 'EMBED', 'VIDEO', 'AUDIO', 'MAP', 'PICTURE', 'IMG']);

  const { state, clean, cut, numberOf, interactive, labelOf } = lib;

  function roleOf(el) {
    const explicit = (el.getAttribute('role') || '').trim().split(/\s+/)[0];
    if (explicit) return explicit;
    const tag = el.tagName;
    if (tag === 'A') return 'link';
    if (tag === 'BUTTON' || tag === 'SUMMARY') return 'button';
    if (tag === 'SELECT') return el.multiple || el.size > 1 ? 'listbox' : 'combobox';
    if (tag === 'TEXTAREA' || el.isContentEditable) return 'textbox';
    if (tag === 'INPUT') {
      const t = (el.type || 'text').toLowerCase();
      if (['submit', 'button', 'reset', 'image'].includes(t)) return 'button';
      if (t === 'checkbox' || t === 'radio') return t;
      if (t === 'search') return 'searchbox';
      if (t === 'number') return 'spinbutton';
      if (t === 'range') return 'slider';
      return 'textbox';
    }
    return tag.toLowerCase();
  }

  function textOf(el) {
    return cut(clean(el.innerText || el.textContent || ''), MAX_NAME);
  }

  // The accessible name, as browsers compute it for the common cases.
  function nameOf(el, role) {
    const aria = clean(el.getAttribute('aria-label') || '');
    const label = labelOf(el);
    if (label && el.getAttribute('aria-labelledby')) return label;
    if (aria) return cut(aria, MAX_NAME);
    if (label) return label;
    if (el.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(el.type)) return cut(clean(el.value || el.type), MAX_NAME);
    if (el.tagName === 'INPUT' && el.type === 'image') return cut(clean(el.alt || el.value || ''), MAX_NAME);
    if (role === 'textbox' || role === 'searchbox' || role === 'combobox' || role === 'spinbutton' || role === 'listbox') {
      return cut(clean(el.getAttribute('title') || el.getAttribute('placeholder') || ''), MAX_NAME);
    }
    let t = textOf(el);
    if (!t) t = clean(el.getAttribute('title') || '');
    if (!t) {
      const img = el.querySelector('img[alt],svg title,[aria-label]');
      if (img) t = clean(img.getAttribute('alt') || img.getAttribute('aria-label') || img.textContent);
    }
    return cut(t, MAX_NAME);
  }

  function visible(el) {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) return false;
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) return true;
    // A custom checkbox: a zero-size input under a visible label.
    return !!(el.labels && el.labels.length && el.labels[0].getBoundingClientRect().width > 0);
  }

  // Ids written by people (not ":r1:" or "ember1234") make good paths.
  const stableID = (id) => /^[A-Za-z][\w-]{0,39}$/.test(id) && (id.match(/\d/g) || []).length <= 3;

  function nthOfType(el) {
    let n = 1;
    for (let s = el.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === el.tagName) n++;
    return n;
  }

  function cssPath(el) {
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== document.body && e !== document.documentElement; e = e.parentElement) {
      const tag = e.tagName.toLowerCase();
      if (e.id && stableID(e.id)) { parts.unshift(tag + '#' + CSS.escape(e.id)); break; }
      parts.unshift(tag + ':nth-of-type(' + nthOfType(e) + ')');
    }
    return parts.join(' > ');
  }

  function xPath(el) {
    const parts = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) parts.unshift(e.tagName.toLowerCase() + '[' + nthOfType(e) + ']');
    return '/' + parts.join('/');
  }

  // The heading of the nearest section around el: a product card's name.
  // Sections are shared by many elements: their headings are looked up
  // once.
  const headingsIn = new Map();
  function contextOf(el) {
    let e = el.parentElement;
    for (let depth = 0; e && e !== document.body && depth < 8; depth++, e = e.parentElement) {
      let hs = headingsIn.get(e);
      if (!hs) {
        hs = [];
        if (e.tagName === 'FIELDSET') {
          const lg = e.querySelector('legend');
          if (lg) hs.push(lg);
        }
        for (const h of e.querySelectorAll('h1,h2,h3,h4,h5,h6,[role=heading]')) if (visible(h)) hs.push(h);
        headingsIn.set(e, hs);
      }
      const h = hs.find((h) => !h.contains(el));
      if (h) return cut(clean(h.innerText), MAX_NAME);
    }
    return '';
  }

  const KEYS = ['id', 'name', 'type', 'href', 'placeholder', 'data-testid', 'aria-label', 'title'];
  function attrsOf(el, role) {
    const a = {};
    for (const k of KEYS) {
      let v = el.getAttribute(k);
      if (v === null || v === '') continue;
      if (k === 'href') {
        try { const u = new URL(el.href); v = u.origin === location.origin ? u.pathname + u.search : u.href; } catch (e) { /* as written */ }
      }
      a[k] = cut(v, 200);
    }
    // Values only where they name the element, never a field's content.
    if (role === 'button' || role === 'checkbox' || role === 'radio') {
      const v = el.getAttribute('value');
      if (v) a.value = cut(v, 200);
    }
    return a;
  }

  function descriptor(el) {
    const role = roleOf(el);
    return {
      role, name: nameOf(el, role), label: labelOf(el),
      text: el.tagName === 'INPUT' || el.tagName === 'SELECT' || el.tagName === 'TEXTAREA' ? '' : textOf(el),
      tag: el.tagName.toLowerCase(), attrs: attrsOf(el, role), css: cssPath(el), xpath: xPath(el),
      index: 0, count: 0, context: contextOf(el), frame: '',
    };
  }

  // Every interactive element, open shadow roots included, in page order.
  function interactives() {
    const out = [];
    const walk = (root) => {
      for (const el of root.querySelectorAll('*')) {
        if (out.length >= MAX_CANDIDATES) return;
        if (interactive(el)) out.push(el);
        if (el.shadowRoot) walk(el.shadowRoot);
      }
    };
    walk(document);
    return out;
  }

  // Index and Count: the position among visible elements of the same role
  // and name.
  function rank(list) {
    const groups = new Map();
    for (const d of list) {
      if (!d.visible) continue;
      const k = d.role + '\u0000' + d.name.toLowerCase();
      const g = groups.get(k) || [];
      d.index = g.length;
      g.push(d);
      groups.set(k, g);
    }
    for (const g of groups.values()) for (const d of g) d.count = g.length;
  }

  function describe(id) {
    const el = state.els.get(id);
    if (!el || !el.isConnected) throw new Error('there is no element [' + id + '] on the page any more');
    const all = interactives().map((e) => {
      const d = e === el ? descriptor(e) : { role: roleOf(e), name: nameOf(e, roleOf(e)) };
      d.visible = e === el || visible(e);
      d.el = e;
      return d;
    });
    rank(all);
    const mine = all.find((d) => d.el === el) || Object.assign(descriptor(el), { index: 0, count: 1 });
    delete mine.el;
    delete mine.visible;
    return mine;
  }

  // The ids of the frames the document shows, in order ('' for a frame
  // whose element carries none).
  const frames = () => lib.shownFrames().map((el) => el.__errandFrameId || '');

  function candidates(start) {
    state.next = Math.max(state.next, start || 1);
    const all = interactives().map((e) => {
      const d = descriptor(e);
      d.visible = visible(e);
      d.id = numberOf(e);
      return d;
    });
    rank(all);
    // The elements found here may be acted on before the next observation.
    lib.installActions();
    return { url: location.href, list: all, next: state.next, frames: frames() };
  }

  function pageState(withTexts) {
    const headings = [];
    for (const h of document.querySelectorAll('h1,h2,h3,[role=heading]')) {
      if (headings.length >= 30) break;
      if (visible(h)) headings.push(cut(clean(h.innerText), 80));
    }
    const fields = [];
    const controls = [];
    for (const el of interactives()) {
      if (!visible(el)) continue;
      const role = roleOf(el);
      if (el.tagName === 'INPUT' || el.tagName === 'SELECT' || el.tagName === 'TEXTAREA') {
        if (role !== 'button') {
          if (fields.length < 60) fields.push([(el.type || el.tagName).toLowerCase(), el.name || '', labelOf(el)].join('|'));
          continue;
        }
      }
      if (controls.length < 150) controls.push(role + '|' + cut(nameOf(el, role), 60));
    }
    const res = { url: location.href, title: document.title, headings, fields, controls, frames: frames() };
    if (withTexts) res.texts = texts();
    return res;
  }

  // Every visible element that holds text of its own, with its path from
  // <body> (tag:position among the siblings of that tag).
  function texts() {
    const out = [];
    const visit = (el, path) => {
      if (out.length >= MAX_TEXTS || SKIP.has(el.tagName)) return;
      if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) return;
      let own = false;
      for (let c = el.firstChild; c; c = c.nextSibling) {
        if (c.nodeType === 3 && c.nodeValue.trim()) { own = true; break; }
      }
      if (own && path) {
        const t = clean(el.innerText || el.textContent || '');
        if (t) out.push({ p: path, t: cut(t, MAX_TEXT) });
      }
      const counts = new Map();
      const root = el.shadowRoot || el;
      for (let c = root.firstElementChild; c; c = c.nextElementSibling) {
        const tag = c.tagName.toLowerCase();
        const n = (counts.get(tag) || 0) + 1;
        counts.set(tag, n);
        visit(c, (path ? path + '/' : '') + tag + ':' + n);
      }
    };
    if (document.body) visit(document.body, '');
    return out;
  }

  switch (cmd) {
    case 'describe': return describe(arg);
    case 'candidates': return candidates(arg);
    case 'state': return pageState(!!arg);
    case 'frames': return frames();
  }
  throw new Error('describe.js: unknown command ' + cmd);
}
