/**
 * Shared pieces of the probe tests: a local HTTP server that answers well, slowly, wrongly
 * or not at all (and counts its sockets), a metrics system double that records the tenant of
 * every point written, a request builder with a principal, and egress policies that let the
 * tests reach 127.0.0.1 (the default policy refuses loopback, as it must).
 */
import http from 'node:http';
import net from 'node:net';
import type { MetricsSystem } from '../../src/model/api.js';
import type { MetricDataPoint } from '../../src/model/metric.js';
import { parseEgressPolicy, type EgressPolicy } from '../../src/net/egress_guard.js';
import type { HttpRequest, Role, RouteDefinition } from '../../src/http/route.js';

/** Loopback allowed: every test that probes a local server passes this. */
export const LOOPBACK_EGRESS: EgressPolicy = parseEgressPolicy('egress_allow', ['127.0.0.1', '::1']);

/** The body `/broken` answers with: it must never reach a probe result. */
export const BROKEN_BODY = 'down for maintenance: secret-internal-detail';

export interface TestServer {
  port: number;
  /** Sockets open now, and the most open at once since `resetMax()`. */
  readonly open: number;
  readonly maxOpen: number;
  resetMax(): void;
  close(): Promise<void>;
}

export async function startTestServer(): Promise<TestServer> {
  let open = 0;
  let maxOpen = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/health') res.end('ok');
    else if (req.url === '/slow') setTimeout(() => res.end('late'), 400);
    else if (req.url === '/broken') {
      res.statusCode = 503;
      res.end(BROKEN_BODY);
    } else if (req.url === '/hang') {
      // Never answers.
    } else if (req.url === '/drip') {
      res.writeHead(200);
      res.write('a');
      // Headers on time, body never ends.
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.on('connection', (s) => {
    maxOpen = Math.max(maxOpen, ++open);
    s.on('close', () => open--);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get open() {
      return open;
    },
    get maxOpen() {
      return maxOpen;
    },
    resetMax() {
      maxOpen = open;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A port nothing listens on (for ECONNREFUSED). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

export interface Written {
  tenant: string;
  point: MetricDataPoint;
}

/** A MetricsSystem double: `forTenant(t)` views that append `{tenant, point}` to `written`. */
export function recordingSystem(dataDirectory: string): { system: MetricsSystem; written: Written[] } {
  const written: Written[] = [];
  const views = new Map<string, MetricsSystem>();
  const view = (tenant: string): MetricsSystem => {
    let v = views.get(tenant);
    if (v === undefined) {
      v = {
        tenant,
        dataDirectory,
        forTenant: view,
        collectMetrics: async (points: readonly MetricDataPoint[]) => {
          for (const point of points) written.push({ tenant, point });
          return { accepted: points.length };
        },
      } as unknown as MetricsSystem;
      views.set(tenant, v);
    }
    return v;
  };
  return { system: view('default'), written };
}

/** Calls the route `method pattern` as `role` of `tenant`, the way the server would after authorization. */
export function routeCaller(routes: RouteDefinition[]) {
  return (tenant: string, role: Role, method: HttpRequest['method'], pattern: string, params: Record<string, string> = {}, body?: unknown) => {
    const route = routes.find((r) => r.method === method && r.pattern === pattern);
    if (route === undefined) throw new Error(`no route ${method} ${pattern}`);
    return Promise.resolve(route.handler({
      method, path: pattern, params, query: new URLSearchParams(), headers: {}, body, remoteAddress: '127.0.0.1',
      principal: { id: `ak_${tenant}`, kind: 'api_key', role, tenant },
    }));
  };
}
