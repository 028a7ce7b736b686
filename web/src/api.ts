/**
 * The page's API client: same-origin fetches authenticated by the session cookie, with the
 * CSRF token on state-changing calls and the operator's chosen tenant in X-Emms-Tenant. Query
 * results come through the worker (core_worker.ts) in the binary form.
 */
import type { Aggregation } from '../../src/model/api.js';
import { decodeColumnar, type DecodedSeries } from './columnar.js';
import type { WorkerRequest, WorkerResponse } from './core_worker.js';

declare const __EMMS_WORKER__: string;

export interface Principal {
  id: string;
  kind: string;
  role: 'reader' | 'writer' | 'admin' | 'operator';
  tenant: string;
}

export interface SessionInfo {
  principal: Principal;
  csrf_token: string;
  expires_at: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string, readonly body: unknown) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface QueryParams {
  metricPattern: string;
  startMs: number;
  endMs: number;
  aggregation?: Aggregation | undefined;
  interval?: string | undefined;
  groupBy?: string[] | undefined;
  tags?: Record<string, string> | undefined;
}

export interface QueryResult {
  series: DecodedSeries[];
  bytes: number;
  fetchMs: number;
  decodeMs: number;
  aggregateMs: number;
}

const ROLE_RANK = { reader: 1, writer: 2, admin: 3, operator: 4 } as const;

export function queryUrl(q: QueryParams): string {
  const p = new URLSearchParams({ metric_pattern: q.metricPattern, start_time: String(Math.floor(q.startMs)), end_time: String(Math.ceil(q.endMs)) });
  if (q.aggregation !== undefined) p.set('aggregation', q.aggregation);
  if (q.interval !== undefined) p.set('interval', q.interval);
  if (q.groupBy !== undefined && q.groupBy.length > 0) p.set('group_by', q.groupBy.join(','));
  for (const [k, v] of Object.entries(q.tags ?? {})) p.set(`tag.${k}`, v);
  return `/api/v1/query?${p}`;
}

export class Api {
  session: SessionInfo | undefined;
  /** The tenant an operator switched to; undefined = the credential's own. */
  tenant: string | undefined;
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, (r: WorkerResponse) => void>();

  get role(): Principal['role'] {
    return this.session?.principal.role ?? 'reader';
  }

  can(role: Principal['role']): boolean {
    return ROLE_RANK[this.role] >= ROLE_RANK[role];
  }

  async request<T = unknown>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (method !== 'GET' && this.session !== undefined) headers['x-emms-csrf'] = this.session.csrf_token;
    if (this.tenant !== undefined) headers['x-emms-tenant'] = this.tenant;
    const res = await fetch(path, { method, headers, credentials: 'same-origin', body: body === undefined ? null : JSON.stringify(body) });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get('content-type') ?? '').includes('json') && text !== '') parsed = JSON.parse(text);
    if (!res.ok) {
      const error = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String((parsed as { error: unknown }).error) : `HTTP ${res.status}`;
      throw new ApiError(res.status, error, parsed);
    }
    return parsed as T;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>('GET', path);
  }

  async signIn(token: string): Promise<SessionInfo> {
    this.session = await this.request<SessionInfo>('POST', '/api/v1/dashboard/session', { token });
    return this.session;
  }

  async resume(): Promise<SessionInfo | undefined> {
    const r = await this.request<SessionInfo & { signed_in: boolean }>('GET', '/api/v1/dashboard/session');
    this.session = r.signed_in ? r : undefined;
    return this.session;
  }

  async signOut(): Promise<void> {
    await this.request('DELETE', '/api/v1/dashboard/session');
    this.session = undefined;
    this.tenant = undefined;
  }

  /**
   * A query in the binary form. Decoding is a copy of two byte columns (well under a
   * millisecond for a 100-series panel), so it happens here; only a re-aggregation in WASM goes
   * to the worker, whose start-up (a thread and a module, hundreds of ms on a busy 2-core
   * machine: bench/dashboard_first_chart.ts) would otherwise delay every first chart.
   */
  async query(q: QueryParams, reaggregate?: WorkerRequest['reaggregate']): Promise<QueryResult> {
    if (reaggregate === undefined) {
      const started = performance.now();
      const headers: Record<string, string> = { accept: 'application/x-msgpack' };
      if (this.tenant !== undefined) headers['x-emms-tenant'] = this.tenant;
      const res = await fetch(queryUrl(q), { headers, credentials: 'same-origin' });
      if (!res.ok) {
        const text = await res.text();
        let error = `HTTP ${res.status}`;
        try {
          error = (JSON.parse(text) as { error?: string }).error ?? error;
        } catch {
          // not JSON: keep the status line
        }
        throw new ApiError(res.status, error, text);
      }
      const bytes = new Uint8Array(await res.arrayBuffer());
      const fetched = performance.now();
      const series = decodeColumnar(bytes);
      return { series, bytes: bytes.byteLength, fetchMs: fetched - started, decodeMs: performance.now() - fetched, aggregateMs: 0 };
    }
    this.#worker ??= this.#startWorker();
    const id = this.#nextId++;
    const request: WorkerRequest = { id, url: queryUrl(q), tenant: this.tenant, reaggregate };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, (r) => {
        if (r.ok) resolve({ series: r.series, bytes: r.bytes, fetchMs: r.fetchMs, decodeMs: r.decodeMs, aggregateMs: r.aggregateMs });
        else reject(new ApiError(r.status, r.error, undefined));
      });
      this.#worker!.postMessage(request);
    });
  }

  #startWorker(): Worker {
    const w = new Worker(__EMMS_WORKER__, { type: 'module', name: 'emms-core' });
    w.onmessage = (e: MessageEvent<WorkerResponse>) => {
      const done = this.#pending.get(e.data.id);
      this.#pending.delete(e.data.id);
      done?.(e.data);
    };
    return w;
  }
}
