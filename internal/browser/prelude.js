// What the observation script (observe.js) and the description script of
// learned tasks (describe.js) share, so that they agree: which elements are
// interactive, how a field's label reads, and the numbers the actions use.
// Called with no argument, it returns the helpers; each script is called
// with them as its first argument. Numbers live in the document
// (window.__errandState, the data-errand-id attribute), so that an element
// numbered by one script is the same number for the other and for the
// actions; installActions (re)defines the helpers the actions call, which
// a new document starts without.
() => {
  const MAX_LABEL = 120;
  const ROLES = /^(button|link|checkbox|radio|tab|menuitem|menuitemcheckbox|menuitemradio|option|switch|combobox|textbox|searchbox|slider|spinbutton|treeitem)$/;

  const state = window.__errandState || (window.__errandState = { next: 1, els: new Map() });
  const clean = (s) => (s || '').replace(/\s+/g, ' ').trim();
  const cut = (s, n) => (s.length > n ? s.slice(0, n - 1) + '…' : s);

  // numberOf is el's number, given at first sight.
  function numberOf(el) {
    let id = Number(el.getAttribute('data-errand-id'));
    // A cloned node carries its original's number: give it its own.
    if (!id || state.els.get(id) !== el) {
      id = state.next++;
      el.setAttribute('data-errand-id', String(id));
      state.els.set(id, el);
    }
    return id;
  }

  function interactive(el) {
    switch (el.tagName) {
      case 'A': return el.hasAttribute('href');
      case 'BUTTON': case 'SELECT': case 'TEXTAREA': case 'SUMMARY': return true;
      case 'INPUT': return el.type !== 'hidden';
    }
    if (el.isContentEditable && !(el.parentElement && el.parentElement.isContentEditable)) return true;
    const role = el.getAttribute('role');
    if (role && ROLES.test(role)) return true;
    return el.hasAttribute('onclick');
  }

  // labelOf is what labels a field: the elements aria-labelledby names,
  // else its first <label>; '' when neither says anything.
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
    return '';
  }

  // shownFrames lists the frame elements of the document that show
  // something (8 px or more, not hidden), open shadow roots included, in
  // document order: a frame's place among them is its place in a
  // recording.
  function shownFrames() {
    const out = [];
    const walk = (root) => {
      for (const el of root.querySelectorAll('*')) {
        if (el.tagName === 'IFRAME' || el.tagName === 'FRAME') {
          if (shows(el)) out.push(el);
        } else if (el.shadowRoot) {
          walk(el.shadowRoot);
        }
      }
    };
    walk(document);
    return out;
  }

  // shows reports whether a frame element is big enough and not hidden.
  function shows(el) {
    if (el.checkVisibility && !el.checkVisibility({ visibilityProperty: true })) return false;
    const r = el.getBoundingClientRect();
    return r.width >= 8 && r.height >= 8;
  }

  function installActions() {
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
  }

  return { state, clean, cut, numberOf, interactive, labelOf, shownFrames, shows, installActions };
}
