// The one way the client builds elements. Strings become text nodes, never HTML: user text
// cannot turn into markup. Attributes starting with "on" become event listeners.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value == null) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  el.append(...kids(children));
  return el;
}

// Replaces an element's children with the given ones (strings as text).
export function fill(el, ...children) {
  el.replaceChildren(...kids(children));
  return el;
}

function kids(children) {
  return children.flat(Infinity).filter((c) => c != null && c !== false)
    .map((c) => (c instanceof Node ? c : String(c)));
}

// A labelled input: the label's text is the field's accessible name.
export function field(label, attrs) {
  return h('label', { class: 'field' }, h('span', {}, label), h('input', attrs));
}
