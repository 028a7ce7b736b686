/**
 * Erasure against a real `emms serve` process and its data directory (issue 14, "Erasure"):
 *
 * - DELETE /api/v1/series by selector and time range: the survivors' values equal the points
 *   written minus the range (computed here), untouched series answer exactly as before, and a
 *   SIGKILL right after the acknowledgement followed by a restart leaves the points gone;
 * - POST /api/v1/erasure: the subject's series, key-event records and audit trail (without the
 *   value), then a scan of every byte of every file after a clean stop: no trace of the
 *   subject's strings or values, while another series' distinctive string is still found.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { describeFiles, scanDirectory } from './data_dir_scan.js';
import { queryRaw, startServer, tempDir, type ServerProcess } from './server_harness.js';

const dirs: Array<() => void> = [];
afterAll(() => {
  for (const remove of dirs) remove();
});

const MIN = 60_000;
const T0 = Math.floor((Date.now() - 6 * 3_600_000) / MIN) * MIN;
const POINTS = 300;

/** Distinctive per series (bit patterns unlikely by chance), exact in binary. */
function valueOf(series: number, i: number): number {
  return 31_415.926_535_897 + series * 1_000.5 + i * 0.25;
}

async function post(server: ServerProcess, path: string, body: unknown, method = 'POST'): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.base}${path}`, { method, headers: { ...server.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

async function send(server: ServerProcess, path: string, method: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${server.base}${path}`, { method, headers: server.auth });
  return { status: r.status, body: await r.json() };
}

async function writeSeries(server: ServerProcess, metricId: string, tags: Record<string, string>, series: number): Promise<void> {
  const metrics = [];
  for (let i = 0; i < POINTS; i++) metrics.push({ metric_id: metricId, value: valueOf(series, i), tags, timestamp: T0 + i * MIN, metric_type: 'gauge' });
  const r = await post(server, '/api/v1/metrics', { metrics });
  expect(r.status, JSON.stringify(r.body)).toBeLessThan(300);
}

async function pointsOf(server: ServerProcess, metric: string, tags: Record<string, string>): Promise<Array<[number, number]>> {
  const params: Record<string, string> = { metric_pattern: metric, start_time: String(T0 - MIN), end_time: String(T0 + (POINTS + 1) * MIN) };
  for (const [k, v] of Object.entries(tags)) params[`tag.${k}`] = v;
  const { status, body } = await queryRaw(server.base, params, server.auth);
  expect(status).toBe(200);
  return body.series.length === 0 ? [] : body.series[0].points;
}

async function stop(server: ServerProcess): Promise<void> {
  server.proc.kill('SIGTERM');
  await server.exited;
}

describe('erasure on a running server', () => {
  it('deletes a selector and time range durably: survivors exact, other series unchanged, gone after SIGKILL and restart', async () => {
    const { dir, remove } = tempDir('emms-erasure-');
    dirs.push(remove);
    let server = await startServer(['--data', dir]);
    try {
      await writeSeries(server, 'erase.temp', { hsm: 'hsm-a' }, 0);
      await writeSeries(server, 'erase.temp', { hsm: 'hsm-b' }, 1);
      await writeSeries(server, 'erase.fan', { hsm: 'hsm-a' }, 2);
      const untouched = { b: await pointsOf(server, 'erase.temp', { hsm: 'hsm-b' }), fan: await pointsOf(server, 'erase.fan', { hsm: 'hsm-a' }) };
      const start = T0 + 100 * MIN;
      const end = T0 + 220 * MIN;
      const selector = `match=erase.t*&tag.hsm=hsm-a&start_time=${start}&end_time=${new Date(end).toISOString()}`;

      const preview = await send(server, `/api/v1/series/deletion-preview?${selector}`, 'GET');
      expect(preview.body).toEqual({ series: [{ metric_id: 'erase.temp', tags: { hsm: 'hsm-a' }, points: 120 }], points: 120, truncated: false });
      expect(await pointsOf(server, 'erase.temp', { hsm: 'hsm-a' })).toHaveLength(POINTS);

      const deleted = await send(server, `/api/v1/series?${selector}`, 'DELETE');
      expect(deleted.status).toBe(200);
      expect(deleted.body).toMatchObject({ series: 1, points_deleted: 120, series_removed: 0, scrub: { complete: true } });
      expect(deleted.body.backups).toMatch(/Backups taken before this erasure still hold/);
      // Killed right after the acknowledgement: nothing of the stop path runs.
      server.proc.kill('SIGKILL');
      await server.exited;

      server = await startServer(['--data', dir]);
      const expected: Array<[number, number]> = [];
      for (let i = 0; i < POINTS; i++) if (T0 + i * MIN < start || T0 + i * MIN >= end) expected.push([T0 + i * MIN, valueOf(0, i)]);
      expect(await pointsOf(server, 'erase.temp', { hsm: 'hsm-a' })).toEqual(expected);
      expect(await pointsOf(server, 'erase.temp', { hsm: 'hsm-b' })).toEqual(untouched.b);
      expect(await pointsOf(server, 'erase.fan', { hsm: 'hsm-a' })).toEqual(untouched.fan);
      expect((await send(server, '/api/v1/series?match=erase.temp', 'DELETE')).body).toMatchObject({ series: 2, points_deleted: POINTS - 120 + POINTS, series_removed: 2 });
      expect((await send(server, '/api/v1/series?match=erase.*', 'GET')).body.series).toEqual([{ metric_id: 'erase.fan', metric_type: 'gauge', tags: { hsm: 'hsm-a' } }]);
    } finally {
      await stop(server);
    }
  });

  it('erases a subject: series, key events, audit without the value, and no trace in any file', async () => {
    const { dir, remove } = tempDir('emms-erasure-');
    dirs.push(remove);
    const subject = 'zelda.erasable-subject@example.org';
    const keeper = 'keeper-distinct-host-7a1c';
    const server = await startServer(['--data', dir]);
    try {
      await writeSeries(server, 'auth.sessions', { actor: subject, site: 'lon' }, 3);
      await writeSeries(server, 'auth.logins', { actor: subject }, 4);
      await writeSeries(server, 'auth.logins', { actor: keeper }, 5);
      expect((await post(server, '/api/v1/keys', { key_id: 'kms-erasure-1', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms' })).status).toBeLessThan(300);
      const events = await post(server, '/api/v1/keys/events', {
        // Use of a revoked key: a policy violation recording the actor.
        events: [{ key_id: 'kms-erasure-1', event_type: 'revoked' }, { key_id: 'kms-erasure-1', event_type: 'encrypt', actor: subject, source_ip: '198.51.100.77' }],
      });
      expect(events.status, JSON.stringify(events.body)).toBeLessThan(300);
      const violations = await send(server, '/api/v1/keys/kms-erasure-1/violations', 'GET');
      expect(JSON.stringify(violations.body)).toContain(subject);

      // The scan below would be empty for a subject that never reached the disk: it did.
      expect(scanDirectory(dir, { strings: [subject] }).length).toBeGreaterThan(0);
      const erased = await post(server, '/api/v1/erasure', { tag_key: 'actor', value: subject });
      expect(erased.status, JSON.stringify(erased.body)).toBe(200);
      expect(erased.body).toMatchObject({ series: 2, points_deleted: 2 * POINTS, series_removed: 2, key_events_deleted: 1 });
      expect(JSON.stringify((await send(server, '/api/v1/keys/kms-erasure-1/violations', 'GET')).body)).not.toContain(subject);
      expect((await send(server, '/api/v1/series?match=auth.*', 'GET')).body.series).toEqual([{ metric_id: 'auth.logins', metric_type: 'gauge', tags: { actor: keeper } }]);
      expect(await pointsOf(server, 'auth.logins', { actor: keeper })).toHaveLength(POINTS);

      const audit = await send(server, '/api/v1/audit?limit=1000', 'GET');
      expect(audit.status).toBe(200);
      const records = (audit.body.records as Array<{ action: string }>).filter((r) => r.action === 'erasure.subject');
      expect(records).toHaveLength(1);
      const text = JSON.stringify(audit.body);
      expect(text).toContain('tag_key=actor');
      expect(text).toContain(erased.body.reference);
      expect(text).not.toContain(subject);
    } finally {
      await stop(server);
    }
    const values = [];
    for (const s of [3, 4]) for (let i = 0; i < POINTS; i += 37) values.push(valueOf(s, i));
    const hits = scanDirectory(dir, { strings: [subject], values });
    expect(hits, describeFiles(dir)).toEqual([]);
    // Chunks compress values (a chunk's first value is stored whole): the keeper's first value is
    // found, so the erased series' first values (i = 0 above) would be too, had they survived.
    expect(scanDirectory(dir, { strings: [keeper] }).length).toBeGreaterThan(0);
    expect(scanDirectory(dir, { values: [valueOf(5, 0)] }).length).toBeGreaterThan(0);
  });

  it('deletes a tenant: its keys stop working, its data is gone from the API and from every file, others stay', async () => {
    const { dir, remove } = tempDir('emms-erasure-');
    dirs.push(remove);
    const marker = 'acme-tenant-distinct-host-5e2d';
    const keeper = 'default-tenant-keeper-host-91b0';
    const server = await startServer(['--data', dir]);
    try {
      expect((await post(server, '/api/v1/tenants/acme', { quotas: {} }, 'PUT')).status).toBeLessThan(300);
      const created = await post(server, '/api/v1/auth/keys', { name: 'acme-admin', tenant: 'acme', role: 'admin' });
      expect(created.status).toBeLessThan(300);
      const acme: ServerProcess = { ...server, auth: { authorization: `Bearer ${created.body.token}` } };
      await writeSeries(acme, 'acme.load', { host: marker }, 6);
      await writeSeries(server, 'acme.load', { host: keeper }, 7);
      expect((await post(acme, '/api/v1/keys', { key_id: 'acme-key-1', key_type: 'signing', algorithm: 'ECDSA-P256', owner: marker, backend: 'hsm' })).status).toBeLessThan(300);
      const rule = await post(acme, '/api/v1/alerts/rules', { rule_id: 'acme-load', name: 'acme load', metric_pattern: 'acme\\.load', threshold_value: 1, comparison: '>', duration_seconds: 60, priority: 'HIGH' });
      expect(rule.status, JSON.stringify(rule.body)).toBeLessThan(300);

      expect(scanDirectory(dir, { strings: [marker] }).length).toBeGreaterThan(0);
      const deleted = await send(server, '/api/v1/tenants/acme', 'DELETE');
      expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);
      expect(deleted.body).toMatchObject({ tenant: 'acme', api_keys_deleted: 1, keys_deleted: 1, alert_rules_deleted: 1 });
      // acme.load, and the key's gauge series once its evaluation ran.
      expect(deleted.body.series_deleted).toBeGreaterThanOrEqual(1);
      expect(deleted.body.points_deleted).toBeGreaterThanOrEqual(POINTS);
      expect((await send(acme, '/api/v1/series?match=*', 'GET')).status).toBe(401);
      expect((await send(server, '/api/v1/tenants/acme', 'GET')).status).toBe(404);
      expect((await send(server, '/api/v1/tenants/acme', 'DELETE')).status).toBe(404);
      expect((await send(server, '/api/v1/tenants/default', 'DELETE')).status).toBe(400);
      const other = await fetch(`${server.base}/api/v1/series?match=*`, { headers: { ...server.auth, 'x-emms-tenant': 'acme' } });
      expect((await other.json()).series).toEqual([]);
      expect(await pointsOf(server, 'acme.load', { host: keeper })).toHaveLength(POINTS);
    } finally {
      await stop(server);
    }
    expect(scanDirectory(dir, { strings: [marker, 'acme-key-1', 'acme-admin'] }), describeFiles(dir)).toEqual([]);
    expect(scanDirectory(dir, { strings: [keeper] }).length).toBeGreaterThan(0);
  });
});
