/**
 * The dashboard page: sign-in, the header (views, time range, auto-refresh, tenant for
 * operators, theme, sign-out) and the hash router that renders one view at a time. Views
 * register clean-ups (charts, live subscriptions, timers) that run when the view is left.
 *
 * Keyboard: every control is a native link, button or field (Tab order follows the page);
 * outside fields, keys 1–6 open the views, `r` refreshes, `t` toggles the theme, `/` focuses
 * the explorer's metric field.
 */
import { Api, ApiError } from './api.js';
import { chartRegistry } from './chart.js';
import { alertsView } from './alerts_view.js';
import { overviewView, performanceView, securityView } from './dashboards.js';
import { clear, h } from './dom.js';
import { compareJsonAndBinary, explorerView } from './explorer.js';
import { keysView } from './keys_view.js';
import { LiveConnection } from './live.js';
import type { ViewContext } from './panel.js';
import { RANGES, type TimeRange } from './time_range.js';

const VIEWS = [
  { key: 'overview', label: 'Overview' },
  { key: 'security', label: 'Security' },
  { key: 'keys', label: 'Keys' },
  { key: 'performance', label: 'Performance' },
  { key: 'alerts', label: 'Alerts' },
  { key: 'explore', label: 'Explorer' },
] as const;

const REFRESH_CHOICES: ReadonlyArray<readonly [string, number]> = [['off', 0], ['10 s', 10], ['30 s', 30], ['1 min', 60], ['5 min', 300]];

const api = new Api();
const live = new LiveConnection(api);
const app = document.getElementById('app')!;
const range: TimeRange = { key: '1h', refreshS: 30 };
let leaving: Array<() => void> = [];
let refreshTimer: number | undefined;

// For end-to-end tests and the curious: what each chart draws, and the JSON/binary check.
(window as unknown as { __emms: unknown }).__emms = {
  charts: () => Object.fromEntries([...chartRegistry].map(([id, c]) => [id, c.lines])),
  compare: (q: Parameters<typeof compareJsonAndBinary>[1]) => compareJsonAndBinary(api, q),
  query: (q: Parameters<Api['query']>[0], re?: Parameters<Api['query']>[1]) => api.query(q, re).then((r) => ({ ...r, series: r.series.map((s) => ({ ...s, timestamps: Array.from(s.timestamps), values: Array.from(s.values) })) })),
};

function applyTheme(theme: string | null): void {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}
applyTheme(localStorage.getItem('emms.theme'));

function toggleTheme(): void {
  const dark = document.documentElement.dataset.theme === 'dark' || (document.documentElement.dataset.theme === undefined && matchMedia('(prefers-color-scheme: dark)').matches);
  const next = dark ? 'light' : 'dark';
  localStorage.setItem('emms.theme', next);
  applyTheme(next);
  render();
}

function route(): { view: string; params: URLSearchParams } {
  const raw = location.hash.replace(/^#\/?/, '');
  const [view = '', query = ''] = raw.split('?');
  const params = new URLSearchParams(query);
  const r = params.get('range');
  if (r !== null && (r === 'custom' || RANGES.some((x) => x.key === r))) range.key = r;
  if (params.get('from') !== null) range.fromMs = Number(params.get('from'));
  if (params.get('to') !== null) range.toMs = Number(params.get('to'));
  return { view: VIEWS.some((v) => v.key === view) ? view : 'overview', params };
}

function leave(): void {
  for (const fn of leaving.splice(0)) fn();
}

function signInForm(message?: string): void {
  leave();
  live.close();
  const token = h('input', { type: 'password', name: 'token', autocomplete: 'current-password', required: true, 'aria-label': 'API key or JWT', placeholder: 'emms_… or a JWT' });
  const error = h('p', { class: 'error', role: 'alert' }, message ?? '');
  const form = h('form', { class: 'signin', onsubmit: (e: Event) => {
    e.preventDefault();
    void api.signIn(token.value.trim()).then(() => render(), (err: Error) => {
      error.textContent = err instanceof ApiError ? err.message : String(err);
    });
  } },
  h('h1', {}, 'EMMS'),
  h('p', {}, 'Sign in with an API key or a JWT. A new server\'s operator token is in ', h('code', {}, '<data>/admin.token'), '.'),
  h('label', {}, 'Token', token), h('button', { type: 'submit' }, 'Sign in'), error);
  app.replaceChildren(form);
  token.focus();
}

function header(current: string): HTMLElement {
  const p = api.session!.principal;
  const rangeSelect = h('select', { 'aria-label': 'Time range', onchange: (e: Event) => {
    range.key = (e.target as HTMLSelectElement).value;
    custom.hidden = range.key !== 'custom';
    if (range.key !== 'custom') render();
  } }, ...RANGES.map((r) => h('option', { value: r.key }, r.label)), h('option', { value: 'custom' }, 'Custom…'));
  rangeSelect.value = range.key;
  const toInput = (ms: number | undefined): string => new Date((ms ?? Date.now()) - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
  const from = h('input', { type: 'datetime-local', 'aria-label': 'From', value: toInput(range.fromMs ?? Date.now() - 86_400_000) });
  const to = h('input', { type: 'datetime-local', 'aria-label': 'To', value: toInput(range.toMs) });
  const custom = h('span', { class: 'custom' }, from, to, h('button', { type: 'button', onclick: () => {
    range.fromMs = new Date(from.value).getTime();
    range.toMs = new Date(to.value).getTime();
    render();
  } }, 'Apply'));
  custom.hidden = range.key !== 'custom';
  const refresh = h('select', { 'aria-label': 'Auto-refresh', onchange: (e: Event) => {
    range.refreshS = Number((e.target as HTMLSelectElement).value);
    render();
  } }, ...REFRESH_CHOICES.map(([label, s]) => h('option', { value: s }, `refresh ${label}`)));
  refresh.value = String(range.refreshS);
  const liveBadge = h('span', { class: 'live', 'data-testid': 'live-state' }, '');
  live.onState = (s) => {
    liveBadge.textContent = s === 'live' ? '● live' : s === 'connecting' ? '○ connecting' : '○ offline';
    liveBadge.dataset.state = s;
  };
  const tenant = h('span', {});
  if (p.role === 'operator') {
    void api.get<{ tenants: Array<{ tenant: string }> }>('/api/v1/tenants').then(({ tenants }) => {
      const names = [...new Set(['default', p.tenant, ...tenants.map((t) => t.tenant)])].sort();
      const select = h('select', { 'aria-label': 'Tenant', 'data-testid': 'tenant-select', onchange: (e: Event) => {
        const v = (e.target as HTMLSelectElement).value;
        api.tenant = v === p.tenant ? undefined : v;
        live.close();
        render();
      } }, ...names.map((n) => h('option', { value: n }, n)));
      select.value = api.tenant ?? p.tenant;
      tenant.replaceChildren(select);
    }, () => undefined);
  }
  return h('header', { class: 'top' },
    h('a', { class: 'skip', href: '#main' }, 'Skip to content'),
    h('strong', { class: 'brand' }, 'EMMS'),
    h('nav', { 'aria-label': 'Dashboards' }, ...VIEWS.map((v, i) => h('a', { href: `#/${v.key}`, 'aria-current': v.key === current ? 'page' : undefined, title: `key ${i + 1}` }, v.label))),
    h('div', { class: 'controls' }, rangeSelect, custom, refresh, liveBadge, tenant,
      h('span', { class: 'who', 'data-testid': 'who', 'data-role': p.role }, `${p.id} · ${p.role} · ${api.tenant ?? p.tenant}`),
      h('button', { type: 'button', onclick: toggleTheme, 'aria-label': 'Toggle light/dark theme' }, '◐'),
      h('button', { type: 'button', 'data-testid': 'sign-out', onclick: () => void api.signOut().finally(() => signInForm()) }, 'Sign out')));
}

function render(): void {
  if (api.session === undefined) return signInForm();
  leave();
  clearTimeout(refreshTimer);
  const { view, params } = route();
  const ctx: ViewContext = { api, live, range, onLeave: (fn) => leaving.push(fn) };
  let body: HTMLElement;
  switch (view) {
    case 'security': body = securityView(ctx); break;
    case 'keys': body = keysView(ctx); break;
    case 'performance': body = performanceView(ctx); break;
    case 'alerts': body = alertsView(ctx, render); break;
    case 'explore': body = explorerView(ctx, params); break;
    default: body = overviewView(ctx);
  }
  body.dataset.view = view;
  const main = h('main', { id: 'main', tabindex: -1 }, body);
  clear(app);
  app.append(header(view), main);
  // The explorer re-runs only on demand; the dashboards reload on the chosen period.
  if (range.refreshS > 0 && view !== 'explore') refreshTimer = window.setTimeout(render, range.refreshS * 1000);
}

document.addEventListener('keydown', (e) => {
  const target = e.target as HTMLElement;
  if (e.ctrlKey || e.metaKey || e.altKey || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName)) return;
  const n = Number(e.key);
  if (Number.isInteger(n) && n >= 1 && n <= VIEWS.length) location.hash = `#/${VIEWS[n - 1]!.key}`;
  else if (e.key === 'r') render();
  else if (e.key === 't') toggleTheme();
  else if (e.key === '/') {
    e.preventDefault();
    location.hash = '#/explore';
  }
});

window.addEventListener('hashchange', () => render());
window.addEventListener('unhandledrejection', (e) => {
  if (e.reason instanceof ApiError && e.reason.status === 401) {
    api.session = undefined;
    signInForm('Your session has ended; sign in again.');
  }
});

void api.resume().then(() => render(), (err: Error) => signInForm(err.message));
