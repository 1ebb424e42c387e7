// The trace's secret cover: evaluated in an isolated script world (the
// page's own scripts cannot see its variables, nor patch the functions it
// calls), with the task's secret values in SECRETS. It covers with opaque
// boxes every form field whose value contains one of them and every piece
// of text that shows one, in the main document, its open shadow roots and
// same-origin frames; a cross-origin frame, whose content cannot be read,
// is covered whole. It returns the number of boxes; remove() takes them
// away after the screenshot.
(() => {
  const SECRETS = __SECRETS__.map((s) => s.toLowerCase()).filter((s) => s.length > 0);
  const vw = innerWidth, vh = innerHeight;
  const boxes = [];
  const shows = (text) => {
    if (!text) return false;
    const t = text.toLowerCase();
    return SECRETS.some((s) => t.includes(s));
  };
  // cover adds a box for a rect in the coordinates of the top viewport.
  const cover = (r, dx, dy) => {
    const x = r.left + dx, y = r.top + dy;
    if (r.width <= 0 || r.height <= 0 || x > vw || y > vh || x + r.width < 0 || y + r.height < 0) return;
    boxes.push([x - 2, y - 2, r.width + 4, r.height + 4]);
  };
  const coverText = (node, dx, dy) => {
    const text = node.nodeValue.toLowerCase();
    for (const s of SECRETS) {
      let i = text.indexOf(s);
      while (i >= 0) {
        const range = node.ownerDocument.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + s.length);
        for (const r of range.getClientRects()) cover(r, dx, dy);
        i = text.indexOf(s, i + 1);
      }
    }
  };
  const walk = (root, dx, dy) => {
    const doc = root.ownerDocument || root;
    const tw = doc.createTreeWalker(root, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT);
    for (let n = tw.currentNode; n; n = tw.nextNode()) {
      if (n.nodeType === Node.TEXT_NODE) {
        if (shows(n.nodeValue)) coverText(n, dx, dy);
        continue;
      }
      const tag = n.tagName;
      if (tag === 'INPUT' || tag === 'TEXTAREA') {
        if (shows(n.value)) cover(n.getBoundingClientRect(), dx, dy);
      } else if (tag === 'SELECT') {
        const o = n.selectedOptions && n.selectedOptions[0];
        if (o && shows(o.text)) cover(n.getBoundingClientRect(), dx, dy);
      } else if (tag === 'IFRAME' || tag === 'FRAME') {
        const r = n.getBoundingClientRect();
        let inner = null;
        try { inner = n.contentDocument; } catch (e) { inner = null; }
        if (inner && inner.documentElement) {
          walk(inner.documentElement, dx + r.left + n.clientLeft, dy + r.top + n.clientTop);
        } else {
          cover(r, dx, dy);
        }
      }
      if (n.shadowRoot) walk(n.shadowRoot, dx, dy);
    }
  };
  walk(document.documentElement, 0, 0);
  const old = window.__errandCover;
  if (old) old.remove();
  if (boxes.length === 0) return 0;
  const layer = document.createElement('div');
  layer.setAttribute('aria-hidden', 'true');
  layer.style.cssText = 'all:initial;position:fixed;left:0;top:0;width:0;height:0;z-index:2147483647;pointer-events:none';
  for (const [x, y, w, h] of boxes) {
    const b = document.createElement('div');
    b.style.cssText = `all:initial;position:fixed;left:${x}px;top:${y}px;width:${w}px;height:${h}px;background:#000;pointer-events:none`;
    layer.appendChild(b);
  }
  document.documentElement.appendChild(layer);
  window.__errandCover = layer;
  return boxes.length;
})()
