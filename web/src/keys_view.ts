/**
 * Key Management: the inventory with filters (type, algorithm, backend, owner), the keys that
 * need attention (expiring soon, rotation overdue, weak algorithms, policy violations) and one
 * key's usage over time (its `crypto.key.*` counters as rates).
 */
import { h, table } from './dom.js';
import { KEY_PANELS, grid } from './dashboards.js';
import { renderPanel, type ViewContext } from './panel.js';
import { formatTime } from './units.js';

interface Key {
  key_id: string;
  key_type: string;
  algorithm: string;
  backend: string;
  owner: string;
  state: string;
  age_days: number;
  days_until_expiry: number | null;
  rotation_period_days: number | null;
  last_rotated_at: string | null;
  created_at: string;
}

interface Violation {
  key_id: string;
  rule: string;
  reason: string;
  timestamp: string;
  count: number;
}

/** Keys expiring within this many days are "expiring soon". */
export const EXPIRING_SOON_DAYS = 30;
const WEAK_RULES = new Set(['weak_algorithm', 'algorithm_not_allowed']);
const FILTERS = ['key_type', 'algorithm', 'backend', 'owner'] as const;

function rotationOverdue(k: Key, now: number): boolean {
  if (k.rotation_period_days === null) return false;
  const since = Date.parse(k.last_rotated_at ?? k.created_at);
  return now - since > k.rotation_period_days * 86_400_000;
}

export function keysView(ctx: ViewContext): HTMLElement {
  const filters = h('form', { class: 'filters', 'aria-label': 'Filter keys' });
  const attention = h('div', { class: 'attention' });
  const inventory = h('div', { class: 'scroll' });
  const usage = h('div', { class: 'usage' });
  const root = h('div', { class: 'view' }, h('h2', {}, 'Key Management'), attention, grid(KEY_PANELS, ctx), h('h3', {}, 'Inventory'), filters, inventory, usage);

  const selected: Record<string, string> = {};
  let keys: Key[] = [];
  let violations: Violation[] = [];

  const showUsage = (keyId: string): void => {
    usage.replaceChildren(renderPanel({ id: `usage-${keyId}`, title: `Usage of ${keyId} (operations/s)`, metric: 'crypto.key.*_ops', tags: { key_id: keyId }, aggregation: 'rate', unit: 'per_s' }, ctx));
    usage.scrollIntoView({ block: 'nearest' });
  };

  const renderInventory = (): void => {
    const now = Date.now();
    const shown = keys.filter((k) => FILTERS.every((f) => selected[f] === undefined || selected[f] === '' || k[f] === selected[f]));
    const violating = new Set(violations.map((v) => v.key_id));
    inventory.replaceChildren(table(['Key', 'Type', 'Algorithm', 'Backend', 'Owner', 'State', 'Age', 'Expires in', 'Flags', ''], shown, (k) => {
      const flags: string[] = [];
      if (k.days_until_expiry !== null && k.days_until_expiry >= 0 && k.days_until_expiry <= EXPIRING_SOON_DAYS) flags.push('expiring');
      if (rotationOverdue(k, now)) flags.push('rotation overdue');
      if (violations.some((v) => v.key_id === k.key_id && WEAK_RULES.has(v.rule))) flags.push('weak algorithm');
      if (violating.has(k.key_id)) flags.push('violations');
      return [k.key_id, k.key_type, k.algorithm, k.backend, k.owner, k.state, `${k.age_days.toFixed(0)} d`,
        k.days_until_expiry === null ? 'never' : `${k.days_until_expiry.toFixed(1)} d`,
        h('span', { class: flags.length > 0 ? 'flag' : 'muted' }, flags.join(', ') || 'ok'),
        h('button', { type: 'button', class: 'link', onclick: () => showUsage(k.key_id) }, 'Usage')];
    }, { 'data-testid': 'key-inventory' }));
  };

  const renderFilters = (): void => {
    filters.replaceChildren(...FILTERS.map((f) => {
      const values = [...new Set(keys.map((k) => k[f]))].sort();
      const select = h('select', { name: f, onchange: (e: Event) => {
        selected[f] = (e.target as HTMLSelectElement).value;
        renderInventory();
      } }, h('option', { value: '' }, 'any'), ...values.map((v) => h('option', { value: v }, v)));
      return h('label', {}, f.replace('_', ' '), select);
    }));
  };

  const renderAttention = (): void => {
    const now = Date.now();
    const expiring = keys.filter((k) => k.days_until_expiry !== null && k.days_until_expiry >= 0 && k.days_until_expiry <= EXPIRING_SOON_DAYS);
    const overdue = keys.filter((k) => rotationOverdue(k, now));
    const weak = [...new Set(violations.filter((v) => WEAK_RULES.has(v.rule)).map((v) => v.key_id))];
    const card = (id: string, title: string, items: string[]): HTMLElement =>
      h('section', { class: 'card', 'data-testid': `keys-${id}`, 'data-count': items.length }, h('h3', {}, `${title} (${items.length})`),
        h('ul', { class: 'plain' }, ...(items.length === 0 ? [h('li', { class: 'muted' }, 'none')] : items.slice(0, 20).map((x) => h('li', {}, x)))));
    attention.replaceChildren(
      card('expiring', `Expiring within ${EXPIRING_SOON_DAYS} d`, expiring.map((k) => `${k.key_id} (${k.days_until_expiry!.toFixed(1)} d)`)),
      card('overdue', 'Rotation overdue', overdue.map((k) => k.key_id)),
      card('weak', 'Weak algorithms', weak),
      card('violations', 'Policy violations', violations.slice(0, 50).map((v) => `${formatTime(Date.parse(v.timestamp))} ${v.key_id}: ${v.rule} — ${v.reason}`)),
    );
  };

  void Promise.all([
    ctx.api.get<{ keys: Key[] }>('/api/v1/keys'),
    ctx.api.get<{ violations: Violation[] }>('/api/v1/policy/violations'),
  ]).then(([k, v]) => {
    keys = k.keys;
    violations = v.violations;
    renderFilters();
    renderInventory();
    renderAttention();
    root.dataset.loaded = 'true';
  }, (err: Error) => {
    inventory.replaceChildren(h('p', { class: 'error' }, err.message));
  });
  return root;
}
