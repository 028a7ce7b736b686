/** A tiny element builder: no framework, no innerHTML with data (the CSP has no inline script anyway). */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'object' ? c : String(c));
  }
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

/** A table from rows; `cells` returns one row's cells (strings or nodes). */
export function table<T>(headers: string[], rows: readonly T[], cells: (row: T) => Child[], attrs: Attrs = {}): HTMLTableElement {
  return h('table', { class: 'grid', ...attrs },
    h('thead', {}, h('tr', {}, ...headers.map((x) => h('th', { scope: 'col' }, x)))),
    h('tbody', {}, ...(rows.length === 0 ? [h('tr', {}, h('td', { colspan: headers.length, class: 'empty' }, 'nothing here'))] : rows.map((r) => h('tr', {}, ...cells(r).map((c) => h('td', {}, c)))))));
}

export function errorBox(message: string): HTMLElement {
  return h('p', { class: 'error', role: 'alert' }, message);
}
