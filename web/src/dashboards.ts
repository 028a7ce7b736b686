/**
 * The metric dashboards: System Overview, Security and Performance, each a grid of panels over
 * real series (collectors' `system.*`, `application.api.*`, `security.auth.failures`, the
 * `crypto.key.*` counters) plus tiles with the engine's own figures from /health and /metrics.
 */
import { ApiError } from './api.js';
import { h } from './dom.js';
import { renderPanel, tile, type PanelDef, type ViewContext } from './panel.js';

export const OVERVIEW_PANELS: PanelDef[] = [
  { id: 'cpu', title: 'CPU', metric: 'system.cpu.usage_total', aggregation: 'avg', unit: 'percent' },
  { id: 'memory', title: 'Memory', metric: 'system.memory.usage_percent', aggregation: 'avg', unit: 'percent' },
  { id: 'disk', title: 'Disk', metric: 'system.disk.usage_percent', aggregation: 'max', unit: 'percent' },
  { id: 'net-sent', title: 'Network sent', metric: 'system.network.bytes_sent', aggregation: 'rate', unit: 'bytes_per_s' },
  { id: 'net-recv', title: 'Network received', metric: 'system.network.bytes_recv', aggregation: 'rate', unit: 'bytes_per_s' },
  { id: 'key-ops', title: 'Key operations', metric: 'crypto.key.*_ops', aggregation: 'rate', unit: 'per_s' },
];

export const SECURITY_PANELS: PanelDef[] = [
  { id: 'auth-failures', title: 'Authentication failures by source', metric: 'security.auth.failures', aggregation: 'max', unit: 'count' },
  { id: 'unauthorized', title: 'Unauthorized key access', metric: 'crypto.key.unauthorized_access', aggregation: 'sum', unit: 'count' },
  { id: 'security-events', title: 'Key security events', metric: 'crypto.key.security_events', aggregation: 'sum', unit: 'count' },
  { id: 'policy-violations', title: 'Policy violations', metric: 'crypto.key.policy_violations', aggregation: 'sum', unit: 'count' },
  { id: 'api-errors', title: 'API error ratio', metric: 'application.api.error_rate', aggregation: 'max', unit: 'ratio' },
];

export const KEY_PANELS: PanelDef[] = [
  { id: 'keys-active', title: 'Active keys by algorithm', metric: 'crypto.key.active', aggregation: 'last', unit: 'count' },
  { id: 'keys-ops', title: 'Key operations', metric: 'crypto.key.*_ops', aggregation: 'rate', unit: 'per_s' },
  { id: 'keys-lifecycle', title: 'Created, rotated, expired, revoked (totals)', metric: 'crypto.key.*_total', aggregation: 'last', unit: 'count' },
  { id: 'keys-expiry', title: 'Days until expiry', metric: 'crypto.key.days_until_expiry', aggregation: 'min', unit: 'days' },
];

export const PERFORMANCE_PANELS: PanelDef[] = [
  { id: 'response-time', title: 'Response time', metric: 'application.api.response_time', aggregation: 'avg', unit: 'ms' },
  { id: 'throughput', title: 'Throughput', metric: 'application.api.request_rate', aggregation: 'avg', unit: 'per_s' },
  { id: 'errors', title: 'Errors', metric: 'application.api.error_rate', aggregation: 'max', unit: 'ratio' },
];

interface Health {
  status: string;
  components?: { storage?: { series?: number; disk_bytes?: number; wal_bytes?: number; head_points?: number; pending_cut_points?: number; status?: string } };
}

/** Sum of every sample of a family in Prometheus text (`name{…} value` lines). */
export function sumFamily(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== '{' && line[name.length] !== ' ')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) total = (total ?? 0) + v;
  }
  return total;
}

async function engineTiles(ctx: ViewContext, into: HTMLElement): Promise<void> {
  try {
    const health = await ctx.api.get<Health>('/health');
    const s = health.components?.storage ?? {};
    const metricsText = await ctx.api.get<string>('/metrics').catch(() => '');
    const ingested = sumFamily(metricsText, 'emms_points_ingested_total');
    into.replaceChildren(
      tile('status', 'Engine', health.status, 'count'),
      tile('series', 'Stored series', s.series, 'count'),
      tile('storage', 'Storage size', s.disk_bytes, 'bytes'),
      tile('wal', 'Write-ahead log', s.wal_bytes, 'bytes'),
      tile('backlog', 'Backlog (points not in chunks)', (s.head_points ?? 0) + (s.pending_cut_points ?? 0), 'count'),
      tile('ingested', 'Points received (HTTP + stream)', ingested, 'count'),
      tile('ingest-rate', 'Ingest rate', undefined, 'per_s', 'measuring…'),
    );
    if (ingested === undefined) return;
    // The rate is the counter's change over a short wait: /metrics has totals only.
    const before = performance.now();
    const timer = window.setTimeout(() => {
      void ctx.api.get<string>('/metrics').then((later) => {
        const after = sumFamily(later, 'emms_points_ingested_total');
        if (after === undefined || !into.isConnected) return;
        into.querySelector('[data-testid="tile-ingest-rate"]')?.replaceWith(tile('ingest-rate', 'Ingest rate', (after - ingested) / ((performance.now() - before) / 1000), 'per_s'));
      });
    }, 2000);
    ctx.onLeave(() => clearTimeout(timer));
  } catch (err) {
    into.replaceChildren(h('p', { class: 'muted' }, `engine figures unavailable: ${(err as Error).message}`));
  }
}

async function keyTiles(ctx: ViewContext, into: HTMLElement): Promise<void> {
  try {
    const { keys } = await ctx.api.get<{ keys: Array<{ state: string; days_until_expiry: number | null }> }>('/api/v1/keys');
    const active = keys.filter((k) => k.state === 'active').length;
    const expiring = keys.filter((k) => k.days_until_expiry !== null && k.days_until_expiry >= 0 && k.days_until_expiry <= 30).length;
    const { violations } = await ctx.api.get<{ violations: unknown[] }>('/api/v1/policy/violations');
    into.replaceChildren(
      tile('keys-total', 'Keys', keys.length, 'count'),
      tile('keys-active', 'Active keys', active, 'count'),
      tile('keys-expiring', 'Expiring within 30 d', expiring, 'count'),
      tile('keys-violations', 'Open policy violations', violations.length, 'count'),
    );
  } catch (err) {
    into.replaceChildren(h('p', { class: 'muted' }, err instanceof ApiError ? `keys: ${err.message}` : String(err)));
  }
}

export function grid(panels: PanelDef[], ctx: ViewContext): HTMLElement {
  return h('div', { class: 'panels' }, ...panels.map((p) => renderPanel(p, ctx)));
}

export function overviewView(ctx: ViewContext): HTMLElement {
  const engine = h('div', { class: 'tiles', 'aria-label': 'Engine figures' });
  const keys = h('div', { class: 'tiles', 'aria-label': 'Key inventory' });
  void engineTiles(ctx, engine);
  void keyTiles(ctx, keys);
  return h('div', { class: 'view' }, h('h2', {}, 'System Overview'), engine, keys, grid(OVERVIEW_PANELS, ctx));
}

export function securityView(ctx: ViewContext): HTMLElement {
  const blocked = h('div', {});
  if (ctx.api.can('admin')) {
    void ctx.api.get<{ blocked_ips: Array<{ ip: string; until?: string; rule_id?: string }> }>('/api/v1/alerts/blocked-ips').then(
      (r) => blocked.replaceChildren(h('h3', {}, 'Blocked addresses'), h('ul', { class: 'plain' }, ...(r.blocked_ips.length === 0 ? [h('li', { class: 'muted' }, 'none')] : r.blocked_ips.map((b) => h('li', {}, `${b.ip} until ${b.until ?? '?'} (${b.rule_id ?? ''})`))))),
      () => undefined,
    );
  }
  return h('div', { class: 'view' }, h('h2', {}, 'Security'), grid(SECURITY_PANELS, ctx), blocked);
}

export function performanceView(ctx: ViewContext): HTMLElement {
  const engine = h('div', { class: 'tiles', 'aria-label': 'Engine figures' });
  void engineTiles(ctx, engine);
  return h('div', { class: 'view' }, h('h2', {}, 'Performance'), engine, grid(PERFORMANCE_PANELS, ctx));
}
