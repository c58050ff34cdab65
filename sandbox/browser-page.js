// The browser tool's helpers inside a page, installed by sandbox/browser-driver.py
// in an isolated world of the page's main frame: the page's own scripts share the
// DOM but not these globals, so a page cannot redefine what the driver calls.
// Evaluates to an object; the driver calls its methods with JSON arguments.
(() => {
  const MAX_LINKS = 1000;
  const MAX_FIELDS = 50;
  const MAX_NODES = 200000;
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'SVG', 'CANVAS', 'IFRAME', 'OBJECT', 'HEAD', 'META', 'LINK']);
  const BLOCK = /^(ADDRESS|ARTICLE|ASIDE|BLOCKQUOTE|BR|DD|DIV|DL|DT|FIELDSET|FIGCAPTION|FIGURE|FOOTER|FORM|H[1-6]|HEADER|HR|LI|MAIN|NAV|OL|P|PRE|SECTION|TABLE|TR|UL|TITLE|BODY)$/;
  const CLICKABLE =
    'a[href],button,input[type=submit],input[type=button],input[type=reset],input[type=checkbox],input[type=radio],' +
    '[role=button],[role=link],[role=tab],[role=menuitem],[role=checkbox],summary,label,[onclick]';
  const norm = (s) => String(s ?? '').replace(/\s+/g, ' ').trim();
  const cut = (s, n) => (s.length > n ? `${s.slice(0, n)}…` : s);
  const visible = (el) => {
    if (el.checkVisibility) return el.checkVisibility({ checkOpacity: true, checkVisibilityCSS: true });
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const links = () => {
    const out = [];
    for (const a of document.querySelectorAll('a[href]')) {
      if (out.length >= MAX_LINKS) break;
      if (visible(a)) out.push(a);
    }
    return out;
  };
  const label = (el) => {
    if (el.labels && el.labels[0]) return norm(el.labels[0].innerText);
    return norm(el.getAttribute('aria-label') || el.getAttribute('placeholder') || el.getAttribute('title') || '');
  };
  const selectorOf = (el) => {
    const tag = el.tagName.toLowerCase();
    if (el.id && document.querySelectorAll(`#${CSS.escape(el.id)}`).length === 1) return `#${CSS.escape(el.id)}`;
    const name = el.getAttribute('name');
    if (name) {
      const s = `${tag}[name="${CSS.escape(name)}"]`;
      if (document.querySelectorAll(s).length === 1) return s;
    }
    const parts = [];
    for (let e = el; e && e.nodeType === 1 && e !== document.documentElement; e = e.parentElement) {
      let i = 1;
      for (let s = e.previousElementSibling; s; s = s.previousElementSibling) if (s.tagName === e.tagName) i++;
      parts.unshift(`${e.tagName.toLowerCase()}:nth-of-type(${i})`);
    }
    return parts.join(' > ');
  };
  const valueOf = (el) => {
    if (el.isContentEditable) return cut(norm(el.innerText), 200);
    if (!('value' in el)) return '';
    const v = String(el.value ?? '');
    return el.type === 'password' ? `(${v.length} characters, hidden)` : cut(v, 200);
  };
  const describe = (el) => {
    const tag = el.tagName.toLowerCase();
    const text = cut(norm(el.innerText || el.value || label(el) || el.getAttribute('alt') || ''), 120);
    const href = el.getAttribute && el.getAttribute('href');
    return `<${tag}${el.type && tag === 'input' ? ` type=${el.type}` : ''}>${text ? ` "${text}"` : ''}${href ? ` -> ${cut(href, 200)}` : ''}`;
  };
  /** The text around an element: its block ancestor's, so the model sees what it acted on. */
  const near = (el) => {
    let e = el;
    while (e.parentElement && norm(e.innerText).length < 80 && e.parentElement !== document.body) e = e.parentElement;
    return cut(norm(e.innerText), 400);
  };
  const byText = (want) => {
    const w = norm(want).toLowerCase();
    let partial = null;
    for (const el of document.querySelectorAll(CLICKABLE)) {
      if (!visible(el)) continue;
      const s = norm(el.innerText || el.value || el.getAttribute('aria-label') || '').toLowerCase();
      if (s === w) return el;
      if (!partial && s.includes(w)) partial = el;
    }
    if (partial) return partial;
    const walker = document.createTreeWalker(document.body || document.documentElement, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(), seen = 0; n && seen < MAX_NODES; n = walker.nextNode(), seen++) {
      if (norm(n.data).toLowerCase().includes(w) && n.parentElement && visible(n.parentElement)) return n.parentElement;
    }
    return null;
  };
  const find = (target) => {
    if (target.link !== undefined) {
      const all = links();
      const el = all[target.link - 1];
      if (!el) return { error: `there is no link [${target.link}] on this page (it has ${all.length}; call extract to see them)` };
      return { el };
    }
    if (target.selector !== undefined) {
      let el;
      try {
        el = document.querySelector(target.selector);
      } catch {
        return { error: `"${target.selector}" is not a valid CSS selector` };
      }
      if (!el) return { error: `no element matches the selector "${target.selector}"` };
      return { el };
    }
    const el = byText(target.text);
    if (!el) return { error: `no visible element with the text "${cut(target.text, 100)}"` };
    return { el };
  };
  return {
    info: () => ({ url: location.href, title: document.title, ready: document.readyState }),
    /** The page's readable text with links numbered [n] where they stand, and the fields the model can type into. */
    extract: (max) => {
      const all = links();
      const index = new Map(all.map((a, i) => [a, i + 1]));
      let out = '';
      let nodes = 0;
      let truncated = false;
      const add = (s) => {
        if (out.length >= max) truncated = true;
        else out += s;
      };
      const walk = (node) => {
        if (truncated || ++nodes > MAX_NODES) {
          truncated = true;
          return;
        }
        if (node.nodeType === 3) {
          const t = node.data.replace(/\s+/g, ' ');
          if (t.trim()) add(t);
          return;
        }
        if (node.nodeType !== 1 || SKIP.has(node.tagName) || node.hidden) return;
        if (!visible(node) && node !== document.body) return;
        const block = BLOCK.test(node.tagName);
        if (block) add('\n');
        const n = index.get(node);
        if (n) add(`[${n}]`);
        if (node.tagName === 'INPUT' || node.tagName === 'TEXTAREA' || node.tagName === 'SELECT') {
          add(` [${node.tagName.toLowerCase()}${node.type ? ` ${node.type}` : ''} ${selectorOf(node)}${label(node) ? ` "${label(node)}"` : ''}] `);
        }
        for (const c of node.childNodes) walk(c);
        if (block) add('\n');
      };
      walk(document.body || document.documentElement);
      const text = out.replace(/[ \t]+\n/g, '\n').replace(/\n[ \t]+/g, '\n').replace(/\n{3,}/g, '\n\n').trim();
      const fields = [];
      for (const el of document.querySelectorAll('input:not([type=hidden]),textarea,select,button')) {
        if (fields.length >= MAX_FIELDS) break;
        if (!visible(el)) continue;
        fields.push({ selector: selectorOf(el), kind: el.tagName === 'INPUT' ? el.type : el.tagName.toLowerCase(), label: cut(label(el) || norm(el.innerText), 80) });
      }
      return {
        text: text.slice(0, max),
        truncated,
        links: all.slice(0, 200).map((a, i) => ({ n: i + 1, text: cut(norm(a.innerText || a.getAttribute('aria-label') || ''), 80), href: cut(a.href, 300) })),
        linkCount: all.length,
        fields,
      };
    },
    /** Scrolls the target into view; its centre in viewport pixels, what it is and the text around it. */
    locate: (target) => {
      const { el, error } = find(target);
      if (error) return { error };
      el.scrollIntoView({ block: 'center', inline: 'center' });
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) return { error: `${describe(el)} is not visible (it has no size)` };
      return { x: r.left + r.width / 2, y: r.top + r.height / 2, element: describe(el), near: near(el) };
    },
    /** Focuses a field and selects what it holds, so that typed text replaces it. */
    focus: (selector) => {
      const { el, error } = find({ selector });
      if (error) return { error };
      el.scrollIntoView({ block: 'center' });
      el.focus();
      if (document.activeElement !== el) return { error: `${describe(el)} cannot take keyboard input` };
      if (typeof el.select === 'function') el.select();
      else if (el.isContentEditable) document.execCommand('selectAll');
      return { element: describe(el) };
    },
    value: (selector) => {
      const { el } = find({ selector });
      return el ? { value: valueOf(el), near: near(el) } : { value: '', near: '' };
    },
    /** The start of the page's text: what the model sees after a navigation. */
    summary: (max) => {
      // innerText lays the page out: on a huge page the raw text (no layout) is read instead.
      const body = document.body;
      const raw = body ? body.textContent || '' : '';
      return { url: location.href, title: document.title, text: cut(norm(raw.length < 200000 ? body.innerText : raw.slice(0, max * 4)), max) };
    },
  };
})()
