/**
 * One probe against real local HTTP and TCP servers that answer well, slowly, wrongly or not at
 * all; the egress policy (loopback, private, link-local and metadata addresses refused, by
 * literal and after DNS resolution, unless allowed); results that carry no response content;
 * and the abort listener each check hangs on the shared shutdown signal, removed when it ends.
 */
import { getEventListeners } from 'node:events';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseEgressPolicy, STRICT_EGRESS } from '../../src/net/egress_guard.js';
import { probeTarget, type ProbeResult } from '../../src/probes/probe_check.js';
import { validateTarget, type ProbeTarget } from '../../src/probes/probe_target.js';
import { BROKEN_BODY, freePort, LOOPBACK_EGRESS, startTestServer, type TestServer } from './probes_test_kit.js';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.close());

function http(extra: Record<string, unknown>): ProbeTarget {
  return validateTarget({ name: 't', target_type: 'http', endpoint: '127.0.0.1', port: server.port, timeout: 1, expected_response_time_ms: 250, ...extra }, 0);
}
const tcp = (endpoint: string, port: number, timeout = 1): ProbeTarget => validateTarget({ target_type: 'tcp', endpoint, port, timeout }, 0);
const allowed = (t: ProbeTarget): Promise<ProbeResult> => probeTarget(t, { egress: LOOPBACK_EGRESS });

describe('probeTarget', () => {
  it('http: up, degraded when slower than expected, down on a wrong status or a timeout', async () => {
    // A generous expectation: the verdict must not depend on how busy the machine is.
    const up = await allowed(http({ expected_response_time_ms: 30_000 }));
    expect(up).toMatchObject({ status: 'up', statusCode: 200, error: null });

    // The server answers after 400 ms: slower than 250 ms whatever the load.
    const slow = await allowed(http({ health_endpoint: '/slow' }));
    expect(slow).toMatchObject({ status: 'degraded', statusCode: 200, error: null });
    expect(slow.responseTimeMs).toBeGreaterThanOrEqual(380);

    const wrong = await allowed(http({ health_endpoint: '/broken' }));
    expect(wrong).toMatchObject({ status: 'down', statusCode: 503, error: 'status 503, expected 200' });
    // Status code, error class and latency only: nothing the server sent in its body.
    expect(JSON.stringify(wrong)).not.toContain('maintenance');
    expect(JSON.stringify(wrong)).not.toContain(BROKEN_BODY);

    const hang = await allowed(http({ health_endpoint: '/hang', timeout: 0.2 }));
    expect(hang).toMatchObject({ status: 'down', statusCode: null, error: 'timeout after 200 ms' });
    expect(hang.responseTimeMs).toBeGreaterThanOrEqual(190);

    // The client's 100 ms timer is set before the server's 400 ms one: the timeout always wins.
    const tooSlow = await allowed(http({ health_endpoint: '/slow', timeout: 0.1 }));
    expect(tooSlow).toMatchObject({ status: 'down', error: 'timeout after 100 ms' });

    // Headers in time and a body that never ends: judged on the headers, socket released.
    const drip = await allowed(http({ health_endpoint: '/drip', timeout: 0.5, expected_response_time_ms: 30_000 }));
    expect(drip.status).toBe('up');

    const refused = await allowed(http({ port: await freePort() }));
    expect(refused).toMatchObject({ status: 'down', statusCode: null, error: 'ECONNREFUSED' });

    const urlForm = await allowed(http({ endpoint: `http://127.0.0.1:${server.port}`, port: null, expected_response_time_ms: 30_000 }));
    expect(urlForm.status).toBe('up');

    await vi.waitFor(() => expect(server.open).toBe(0));
  });

  it('tcp: up when a listener accepts, down when refused', async () => {
    const listener = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const port = (listener.address() as net.AddressInfo).port;
    try {
      expect(await allowed(tcp('127.0.0.1', port))).toMatchObject({ status: 'up', error: null, statusCode: null });
      expect(await allowed(tcp('127.0.0.1', await freePort()))).toMatchObject({ status: 'down', error: 'ECONNREFUSED' });
    } finally {
      await new Promise((r) => listener.close(r));
    }
  });
});

describe('egress', () => {
  const EEGRESS = /^EEGRESS: destination refused by the egress policy/;

  it('refuses loopback, private, link-local and metadata addresses, by literal and after resolving a name', async () => {
    server.resetMax();
    const refusedHttp = [
      '127.0.0.1', '10.1.2.3', '169.254.169.254', '192.168.1.1', '172.16.0.1', 'localhost', '[::1]',
      'http://127.0.0.1', 'http://localhost', 'http://[::ffff:127.0.0.1]', 'http://2130706433', 'http://0x7f.1',
    ];
    for (const endpoint of refusedHttp) {
      const t = validateTarget({ target_type: 'http', endpoint, port: server.port, timeout: 2 }, 0);
      const r = await probeTarget(t, { egress: STRICT_EGRESS });
      expect(r, endpoint).toMatchObject({ status: 'down', statusCode: null });
      expect(r.error, endpoint).toMatch(EEGRESS);
      // The result names no resolved address.
      expect(r.error, endpoint).not.toMatch(/127\.0\.0\.1|::1/);
    }
    for (const endpoint of ['127.0.0.1', '10.0.0.1', '169.254.169.254', 'localhost', '::1']) {
      const r = await probeTarget(tcp(endpoint, server.port, 2), { egress: STRICT_EGRESS });
      expect(r.error, endpoint).toMatch(EEGRESS);
    }
    // Not one connection reached the local server.
    expect(server.maxOpen).toBe(0);
  });

  it('allows what security.egress_allow lists: networks, addresses or exact host names', async () => {
    const byNetwork = parseEgressPolicy('egress_allow', ['127.0.0.0/8']);
    const byName = parseEgressPolicy('egress_allow', ['localhost']);
    const generous = { expected_response_time_ms: 30_000 };
    expect((await probeTarget(http(generous), { egress: byNetwork })).status).toBe('up');
    expect((await probeTarget(http({ ...generous, endpoint: 'localhost' }), { egress: byName })).status).toBe('up');
    // Listing a name allows that name, not the address it resolves to.
    expect((await probeTarget(http(generous), { egress: byName })).error).toMatch(/^EEGRESS/);
    // Listing 127.0.0.1 allows nothing else internal.
    const other = await probeTarget(validateTarget({ target_type: 'tcp', endpoint: '10.9.9.9', port: 80, timeout: 2 }, 0), { egress: LOOPBACK_EGRESS });
    expect(other.error).toMatch(/^EEGRESS/);
  });
});

describe('abort listeners on the shared shutdown signal', () => {
  it('a completed check leaves no listener: flat over thousands of checks of every outcome', async () => {
    const listener = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
    const tcpPort = (listener.address() as net.AddressInfo).port;
    const refusedPort = await freePort();
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    const shutdown = new AbortController();
    const signal = shutdown.signal;
    const targets = [
      http({ expected_response_time_ms: 30_000 }),
      http({ health_endpoint: '/broken' }),
      tcp('127.0.0.1', tcpPort),
      tcp('127.0.0.1', refusedPort),
      tcp('10.0.0.1', 80), // refused by egress before any connect
    ];
    try {
      const outcomes = new Map<string, number>();
      const rounds = 2000 / targets.length;
      for (let round = 0; round < rounds; round++) {
        const results = await Promise.all(targets.map((t) => probeTarget(t, { egress: LOOPBACK_EGRESS, signal })));
        for (const r of results) outcomes.set(r.error ?? r.status, (outcomes.get(r.error ?? r.status) ?? 0) + 1);
        expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      }
      expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(2000);
      expect(outcomes.get('up')).toBe(800);
      expect(outcomes.get('ECONNREFUSED')).toBe(400);

      // Timeouts detach too, and a check in flight at shutdown ends as `aborted`, detached.
      const timedOut = await probeTarget(http({ health_endpoint: '/hang', timeout: 0.05 }), { egress: LOOPBACK_EGRESS, signal });
      expect(timedOut.error).toBe('timeout after 50 ms');
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      const inFlight = probeTarget(http({ health_endpoint: '/hang', timeout: 30 }), { egress: LOOPBACK_EGRESS, signal });
      expect(getEventListeners(signal, 'abort')).toHaveLength(1);
      shutdown.abort();
      expect(await inFlight).toMatchObject({ status: 'down', error: 'aborted' });
      expect(getEventListeners(signal, 'abort')).toHaveLength(0);
      // A check started after shutdown ends at once.
      expect(await probeTarget(http({}), { egress: LOOPBACK_EGRESS, signal })).toMatchObject({ error: 'aborted' });
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await new Promise((r) => listener.close(r));
    }
  });
});
