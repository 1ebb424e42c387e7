// The page as HTML for the built-in extractor: the document as rendered,
// with what a reader sees but outerHTML leaves out put in place.
//
//   - An open shadow root is inlined in its host, its slots replaced by the
//     nodes assigned to them (the composed tree, as it is drawn); the host
//     gets data-errand-shadow="open".
//   - An iframe becomes <div data-errand-frame="its URL">, holding the
//     comment <!--errand-frame:ID--> where the Go side puts the frame's own
//     serialization (any origin, any process). iframe content cannot stay
//     in an <iframe>: HTML parsers read it as text.
//
// args.body: serialize the body's content only (a frame's), not the whole
// document. When the document has neither, outerHTML serves as it is.
((args) => {
  const VOID = new Set(['AREA', 'BASE', 'BR', 'COL', 'EMBED', 'HR', 'IMG', 'INPUT', 'LINK', 'META',
    'SOURCE', 'TRACK', 'WBR', 'PARAM', 'KEYGEN']);
  const RAW = new Set(['SCRIPT', 'STYLE', 'XMP', 'NOEMBED', 'NOFRAMES', 'PLAINTEXT', 'NOSCRIPT']);
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\u00a0/g, '&nbsp;');
  const attr = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/\u00a0/g, '&nbsp;');
  const doc = document;
  const root = args.body ? (doc.body || doc.documentElement) : doc.documentElement;
  if (!root) return '';

  // Does anything need the slow path?
  let special = root.querySelector('iframe,frame') !== null;
  if (!special) {
    const w = doc.createTreeWalker(root, NodeFilter.SHOW_ELEMENT);
    for (let n = w.currentNode; n; n = w.nextNode()) {
      if (n.shadowRoot) { special = true; break; }
    }
  }
  if (!special) return args.body ? root.innerHTML : (doc.doctype ? '<!DOCTYPE html>\n' : '') + root.outerHTML;

  const out = [];
  const startTag = (el, extra) => {
    let s = '<' + el.localName;
    for (const a of el.attributes) s += ' ' + a.name + '="' + attr(a.value) + '"';
    return s + (extra || '') + '>';
  };
  const children = (parent) => {
    for (let c = parent.firstChild; c; c = c.nextSibling) node(c);
  };
  const node = (n) => {
    switch (n.nodeType) {
      case 3: {
        const p = n.parentNode;
        out.push(p && RAW.has(p.nodeName) ? n.data : esc(n.data));
        return;
      }
      case 8:
        out.push('<!--' + n.data + '-->');
        return;
      case 1:
        break;
      default:
        return;
    }
    const el = n;
    const tag = el.nodeName;
    if (tag === 'TEMPLATE') { out.push(el.outerHTML); return; }
    if (tag === 'SLOT') {
      const assigned = el.assignedNodes({ flatten: true });
      if (assigned.length) { assigned.forEach(node); return; }
      children(el);
      return;
    }
    if (tag === 'IFRAME' || tag === 'FRAME') {
      out.push('<div data-errand-frame="' + attr(el.src || '') + '">');
      if (el.__errandFrameId) out.push('<!--errand-frame:' + el.__errandFrameId + '-->');
      out.push('</div>');
      return;
    }
    const shadow = el.shadowRoot;
    out.push(startTag(el, shadow ? ' data-errand-shadow="open"' : ''));
    if (VOID.has(tag)) return;
    children(shadow || el);
    out.push('</' + el.localName + '>');
  };
  if (args.body) {
    children(root.shadowRoot || root);
  } else {
    if (doc.doctype) out.push('<!DOCTYPE html>\n');
    node(root);
  }
  return out.join('');
})
