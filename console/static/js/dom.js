// Small DOM helpers. Everything shown is built with h() from text, never
// parsed as HTML, so message text from Messenger cannot inject markup.

/**
 * h creates an element: h('button', {class: 'primary', onclick}, 'Send').
 * Attributes starting with "on" become listeners; false/null ones are left
 * out; children may be strings, nodes, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

/** clear empties el and appends children. */
export function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return el;
}

const sameDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const otherDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** when formats a GraphQL Time briefly: the clock today, else the date too. */
export function when(t) {
  if (!t) return '';
  const d = new Date(t);
  return (d.toDateString() === new Date().toDateString() ? sameDay : otherDay).format(d);
}

/** time returns a <time> element for t. */
export function time(t) {
  return h('time', { datetime: t, title: t ? new Date(t).toLocaleString() : '' }, when(t));
}

/** toast shows a short notice; actions are [label, fn] pairs; key names it for removal. */
export function toast(text, { kind = 'info', actions = [], ms = 6000, key } = {}) {
  const box = document.getElementById('toasts');
  const t = h('div', { class: `toast ${kind}`, 'data-key': key }, h('span', {}, text),
    actions.map(([label, fn]) => h('button', { type: 'button', onclick: () => { t.remove(); fn(); } }, label)),
    h('button', { type: 'button', class: 'x', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
  box.append(t);
  setTimeout(() => t.remove(), ms);
}

/** copy puts text on the clipboard, falling back to a selection where the Clipboard API is missing (plain http). */
export async function copy(text, input) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    if (!input) return false;
    input.select();
    return document.execCommand('copy');
  }
}

/** busy disables a button while fn runs and reports its error next to it. */
export async function busy(button, fn, errorEl) {
  button.disabled = true;
  if (errorEl) errorEl.textContent = '';
  try {
    return await fn();
  } catch (err) {
    if (errorEl) errorEl.textContent = err.message;
    else toast(err.message, { kind: 'error' });
  } finally {
    button.disabled = false;
  }
}

/** errorLine is the place a form reports what went wrong. */
export function errorLine() {
  return h('p', { class: 'error', role: 'alert' });
}

export const statusLabel = {
  BOT: 'Bot',
  HANDOFF_REQUESTED: 'Wants a human',
  HUMAN: 'Human',
  CLOSED: 'Closed',
};

/** badge shows a status in its colour. */
export function badge(status, labels = statusLabel) {
  return h('span', { class: `badge s-${status.toLowerCase()}` }, labels[status] || status);
}

/**
 * webHref returns url as a link target when it is an absolute http: or
 * https: URL, else null. Attachment URLs come from webhook bodies: a
 * javascript: or data: link must never become clickable, whatever the
 * server stored before it started filtering them and whatever the CSP says.
 */
export function webHref(url) {
  if (typeof url !== 'string' || url === '') return null;
  let u;
  try {
    u = new URL(url); // no base: relative URLs throw
  } catch {
    return null;
  }
  return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
}
