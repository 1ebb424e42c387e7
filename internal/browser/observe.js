// The observation script: evaluated in each frame of the page before each
// observation, it (re)defines errand's helpers and returns the compact view
// of the frame's viewport. One walk over the DOM, no libraries: it must be
// fast on large pages and cheap in tokens. Interactive elements get a
// number kept in the data-errand-id attribute, stable while the document
// lives, which the actions (click, type, select) use; numbers start at
// args.start, so that the frames of a page never share one. Open shadow
// roots are walked as part of their host. An iframe shows as a placeholder
// (\u0001F<n>\u0001, n its index in frames) where the Go side puts the
// frame's own view.
((args) => {
  const MAX_LABEL = 120;
  const MAX_HREF = 80;
  const MAX_OPTIONS = 25;
  const MAX_TEXT = 24000;
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'HEAD', 'META', 'LINK', 'TITLE',
    'SVG', 'CANVAS', 'OBJECT', 'EMBED', 'VIDEO', 'AUDIO', 'MAP', 'PICTURE', 'IMG']);
  const ROLES = /^(button|link|checkbox|radio|tab|menuitem|menuitemcheckbox|menuitemradio|option|switch|combobox|textbox|searchbox|slider|spinbutton|treeitem)$/;
  const CONTROLS = 'a[href],button,input,select,textarea,[role=button],[role=link],[contenteditable=""],[contenteditable=true]';

  const state = window.__errandState || (window.__errandState = { next: 1, els: new Map() });
  state.next = Math.max(state.next, args.start || 1);
  const shown = [];
  const frames = [];

  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);
  const quote = (s) => '"' + s.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  const bare = (s) => (/^[^\s"'<>=`]+$/.test(s) ? s : quote(s));

  function numberOf(el) {
    let id = Number(el.getAttribute('data-errand-id'));
    // A cloned node carries its original's number: give it its own.
    if (!id || state.els.get(id) !== el) {
      id = state.next++;
      el.setAttribute('data-errand-id', String(id));
      state.els.set(id, el);
    }
    shown.push(id);
    return id;
  }

  function interactive(el, tag) {
    switch (tag) {
      case 'A': return el.hasAttribute('href');
      case 'BUTTON': case 'SELECT': case 'TEXTAREA': case 'SUMMARY': return true;
      case 'INPUT': return el.type !== 'hidden';
    }
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return true;
    const role = el.getAttribute('role');
    if (role && ROLES.test(role)) return true;
    return el.hasAttribute('onclick');
  }

  function textOf(el) {
    let t = clean(el.innerText);
    if (!t) {
      t = clean(el.getAttribute('aria-label') || el.getAttribute('title') || '');
    }
    if (!t) {
      const img = el.querySelector('img[alt],svg title,[aria-label]');
      if (img) t = clean(img.getAttribute('alt') || img.getAttribute('aria-label') || img.textContent);
    }
    return cut(t, MAX_LABEL);
  }

  function labelOf(el) {
    const by = el.getAttribute('aria-labelledby');
    if (by) {
      const t = clean(by.split(/\s+/).map((id) => {
        const n = document.getElementById(id);
        return n ? n.innerText || n.textContent : '';
      }).join(' '));
      if (t) return cut(t, MAX_LABEL);
    }
    if (el.labels && el.labels.length) {
      const l = el.labels[0];
      let t = l.innerText || l.textContent || '';
      // A label that wraps its control also holds the control's own text.
      if (l.contains(el) && el.tagName === 'SELECT') {
        for (const o of el.options) t = t.replace(o.text, '');
      }
      t = clean(t);
      if (t) return cut(t, MAX_LABEL);
    }
    const a = clean(el.getAttribute('aria-label') || el.getAttribute('title') || '');
    return a ? cut(a, MAX_LABEL) : '';
  }

  function shortHref(a) {
    const raw = a.getAttribute('href') || '';
    if (/^\s*javascript:/i.test(raw)) return '';
    let h = raw;
    try {
      const u = new URL(a.href);
      if (u.origin !== location.origin) h = u.href;
      else if (u.hash && u.pathname === location.pathname && u.search === location.search) h = u.hash;
      else h = u.pathname + u.search + u.hash;
    } catch (e) { /* keep it as written */ }
    return cut(h, MAX_HREF);
  }

  function describe(el, tag, id) {
    const flags = [];
    if (el.disabled) flags.push('disabled');
    const head = '[' + id + ']<';
    if (tag === 'A') {
      const h = shortHref(el);
      return head + 'a' + (h ? ' href=' + bare(h) : '') + '>' + textOf(el) + '</a>';
    }
    if (tag === 'SELECT') {
      const opts = Array.from(el.options);
      const chosen = opts.filter((o) => o.selected).map((o) => clean(o.text));
      let list = opts.slice(0, MAX_OPTIONS).map((o) => clean(o.text)).join(' | ');
      if (opts.length > MAX_OPTIONS) list += ' | …(' + (opts.length - MAX_OPTIONS) + ' more)';
      const label = labelOf(el) || clean(el.name);
      return head + 'select' + (label ? ' label=' + quote(label) : '') + ' value=' + quote(chosen.join(', ')) +
        (el.multiple ? ' multiple' : '') + (flags.length ? ' ' + flags.join(' ') : '') + '>' + list + '</select>';
    }
    if (tag === 'INPUT' || tag === 'TEXTAREA') {
      const type = tag === 'TEXTAREA' ? '' : (el.type || 'text').toLowerCase();
      if (type === 'submit' || type === 'button' || type === 'reset' || type === 'image') {
        return head + 'button>' + cut(clean(el.value || el.alt || el.title || type), MAX_LABEL) + '</button>';
      }
      const parts = [tag === 'TEXTAREA' ? 'textarea' : 'input type=' + type];
      const label = labelOf(el);
      if (label) parts.push('label=' + quote(label));
      else if (el.name) parts.push('name=' + quote(el.name));
      if (el.placeholder && el.placeholder !== label) parts.push('placeholder=' + quote(cut(clean(el.placeholder), MAX_LABEL)));
      if (type === 'checkbox' || type === 'radio') {
        if (el.checked) parts.push('checked');
      } else if (type === 'password') {
        // Never read a password back to the model.
        parts.push('value=' + quote(el.value ? '••••••' : ''));
      } else if (type !== 'file') {
        parts.push('value=' + quote(cut(el.value || '', 200)));
      }
      if (el.required) parts.push('required');
      if (el.readOnly) parts.push('readonly');
      return head + parts.concat(flags).join(' ') + '>';
    }
    if (el.isContentEditable) {
      return head + 'textbox' + (labelOf(el) ? ' label=' + quote(labelOf(el)) : '') + ' value=' + quote(cut(clean(el.innerText), 200)) + '>';
    }
    const role = el.getAttribute('role');
    const name = tag === 'BUTTON' || tag === 'SUMMARY' ? tag.toLowerCase() : (role || tag.toLowerCase());
    const checked = el.getAttribute('aria-checked') === 'true' || el.getAttribute('aria-pressed') === 'true' ||
      el.getAttribute('aria-selected') === 'true' ? ' checked' : '';
    return head + name + checked + (flags.length ? ' ' + flags.join(' ') : '') + '>' + textOf(el) + '</' + name + '>';
  }

  const VH = window.innerHeight;
  const VW = window.innerWidth;
  const out = [];
  const push = (s) => out.push(s);
  // muted > 0 inside the <label> of a control that is shown with that
  // label already: its text would be said twice.
  let muted = 0;

  function visitChildren(node) {
    const root = node.shadowRoot || node;
    for (let c = root.firstChild; c; c = c.nextSibling) visit(c);
  }

  function visit(n) {
    if (n.nodeType === 3) {
      if (muted) return;
      const v = n.nodeValue;
      if (v) push(v);
      return;
    }
    if (n.nodeType !== 1) return;
    const el = n;
    const tag = el.tagName;
    if (SKIP.has(tag)) return;
    if (tag === 'BR') { push('\n'); return; }
    if (tag === 'SLOT') {
      const assigned = el.assignedNodes({ flatten: true });
      if (assigned.length) { assigned.forEach(visit); return; }
    }
    const isControl = tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA';
    // Custom checkboxes are often transparent inputs under a styled
    // label: keep them, they are still what the user clicks.
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true, opacityProperty: !isControl })) return;
    const st = getComputedStyle(el);
    const display = st.display;
    if (display === 'none') return;
    if (display !== 'contents') {
      const r = el.getBoundingClientRect();
      if (r.width <= 1 && r.height <= 1 && (st.overflow === 'hidden' || st.clip !== 'auto' || st.clipPath !== 'none') && !isControl) return;
      if (r.width > 0 || r.height > 0) {
        if (r.bottom <= 0 || r.top >= VH || r.right <= 0 || r.left >= VW) return;
      }
    }
    if (tag === 'IFRAME' || tag === 'FRAME') {
      // Tracking pixels and hidden helpers are not worth a frame's view.
      const r = el.getBoundingClientRect();
      if (r.width < 8 || r.height < 8) return;
      frames.push({ id: el.__errandFrameId || '', src: el.src || '' });
      push('\n\u0001F' + (frames.length - 1) + '\u0001\n');
      return;
    }
    if (interactive(el, tag)) {
      const id = numberOf(el);
      const leaf = tag !== 'SUMMARY' && (tag === 'A' || tag === 'BUTTON' || isControl || el.isContentEditable ||
        !el.querySelector(CONTROLS));
      if (leaf) {
        const block = !display.startsWith('inline');
        if (block) push('\n');
        push(' ' + describe(el, tag, id) + ' ');
        if (block) push('\n');
        return;
      }
      push(' [' + id + ']');
    }
    const block = !display.startsWith('inline') && display !== 'contents';
    if (display === 'table-cell') {
      visitChildren(el);
      push(' | ');
      return;
    }
    if (block) push('\n');
    const h = /^H([1-6])$/.exec(tag);
    if (h) push('#'.repeat(Number(h[1])) + ' ');
    else if (tag === 'LI') push('- ');
    const mute = tag === 'LABEL' && el.control && el.control.type !== 'hidden';
    if (mute) muted++;
    visitChildren(el);
    if (mute) muted--;
    if (block) push('\n');
  }

  const body = document.body || document.documentElement;
  if (body) visitChildren(body);

  let text = out.join('')
    .replace(/[ \t\u00a0\r]+/g, ' ')
    .split('\n')
    .map((l) => l.trim().replace(/^\|\s*/, '').replace(/\s*\|$/, ''))
    .filter((l) => l && l !== '-' && !/^#+$/.test(l))
    .join('\n');
  if (text.length > MAX_TEXT) text = text.slice(0, MAX_TEXT) + '\n…(cut)';

  const se = document.scrollingElement || document.documentElement;
  const total = Math.max(se ? se.scrollHeight : 0, body ? body.scrollHeight : 0);
  const above = Math.round(window.scrollY);
  const below = Math.max(0, Math.round(total - window.scrollY - VH));
  const note = (px, where) => '… ' + px.toLocaleString('en-US') + ' px (' +
    (px / VH).toFixed(1) + ' pages) more ' + where;
  const lines = [];
  if (args.top && above > 4) lines.push(note(above, 'above'));
  if (text || args.top) lines.push(text || '(nothing visible in the viewport)');
  if (args.top && below > 4) lines.push(note(below, 'below'));

  // Helpers for the actions, redefined with each observation because a
  // new document starts without them.
  window.__errandElement = (id) => {
    const el = state.els.get(id);
    if (!el || !el.isConnected) throw new Error('there is no element [' + id + '] on the page any more (observe the page again)');
    return el;
  };
  window.__errandLocate = (id) => {
    const el = state.els.get(id);
    if (!el || !el.isConnected) return { found: false };
    el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2;
    const y = r.top + r.height / 2;
    const root = el.getRootNode();
    const top = (root.elementFromPoint ? root : document).elementFromPoint(x, y);
    const hit = r.width > 0 && r.height > 0 && !!top && (top === el || el.contains(top));
    // now: an action follows; what the page scheduled before it is not
    // waited for after it (settle.js).
    return { found: true, tag: el.tagName.toLowerCase(), x, y, hit, text: clean(el.innerText).slice(0, 80), now: Date.now() };
  };
  const nativeSetter = (el) => {
    const proto = el.tagName === 'TEXTAREA' ? HTMLTextAreaElement.prototype
      : el.tagName === 'SELECT' ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
    return Object.getOwnPropertyDescriptor(proto, 'value').set;
  };
  const fire = (el, type) => el.dispatchEvent(new Event(type, { bubbles: true }));
  window.__errandClear = (id) => {
    const el = window.__errandElement(id);
    el.focus();
    if (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') {
      if (['checkbox', 'radio', 'file', 'submit', 'button', 'reset', 'image'].includes(el.type)) {
        throw new Error('[' + id + '] is a ' + el.type + ' input: click it instead of typing');
      }
      if (el.value !== '') {
        // The prototype's setter, so that frameworks tracking the value
        // (React) notice the change.
        nativeSetter(el).call(el, '');
        fire(el, 'input');
      }
    } else if (el.isContentEditable) {
      document.execCommand('selectAll', false);
      document.execCommand('delete', false);
    } else if (el.tagName === 'SELECT') {
      throw new Error('[' + id + '] is a select: use select with one of its options');
    } else {
      throw new Error('[' + id + '] is a ' + el.tagName.toLowerCase() + ', not a text field');
    }
    return true;
  };
  window.__errandEnsureValue = (id, text) => {
    const el = window.__errandElement(id);
    if ((el.tagName === 'INPUT' || el.tagName === 'TEXTAREA') && el.value !== text) {
      nativeSetter(el).call(el, text);
      fire(el, 'input');
      fire(el, 'change');
    }
    return true;
  };
  window.__errandSelect = (id, value) => {
    const el = window.__errandElement(id);
    if (el.tagName !== 'SELECT') throw new Error('[' + id + '] is not a select');
    const opts = Array.from(el.options);
    const want = clean(value).toLowerCase();
    const o = opts.find((o) => o.value === value) || opts.find((o) => clean(o.text) === clean(value)) ||
      opts.find((o) => clean(o.text).toLowerCase() === want) ||
      opts.find((o) => clean(o.text).toLowerCase().includes(want));
    if (!o) {
      throw new Error('[' + id + '] has no option ' + JSON.stringify(value) + '; its options are: ' +
        opts.slice(0, 40).map((o) => JSON.stringify(clean(o.text))).join(', '));
    }
    el.focus();
    nativeSetter(el).call(el, o.value);
    o.selected = true;
    fire(el, 'input');
    fire(el, 'change');
    return clean(o.text);
  };
  window.__errandScroll = (pages) => {
    const se = document.scrollingElement || document.documentElement;
    if (se.scrollHeight > innerHeight + 1) {
      window.scrollBy({ top: pages * innerHeight, behavior: 'instant' });
      return true;
    }
    // The page does not scroll but a panel in it does (app layouts).
    let best = null;
    for (const el of document.querySelectorAll('*')) {
      if (el.scrollHeight > el.clientHeight + 1 && el.clientHeight > 100) {
        const oy = getComputedStyle(el).overflowY;
        if ((oy === 'auto' || oy === 'scroll') && (!best || el.clientHeight > best.clientHeight)) best = el;
      }
    }
    if (best) best.scrollBy({ top: pages * best.clientHeight, behavior: 'instant' });
    return true;
  };

  return { url: location.href, title: document.title, text: lines.join('\n'), next: state.next, ids: shown, frames };
})
