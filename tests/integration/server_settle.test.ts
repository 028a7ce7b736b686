/**
 * Real `emms serve` processes settling after ingest goes quiet (src/storage/settle_policy.ts):
 * a burst, then nothing, and /health must come to `settled` on its own (the test waits for it,
 * no fixed sleep) with heads empty, records checkpointed and one chunk per series, every
 * acknowledged point still there; a trickle writer then gets no chunk per point; and a
 * SIGKILL while settling runs loses no acknowledged point. Short idle and quiet times through
 * the EMMS_SETTLE_* variables keep it quick.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { queryRaw, startServer, tempDir, type ServerProcess } from './server_harness.js';

const T0 = Date.UTC(2025, 2, 1);
const STEP_MS = 10_000;
const SETTLE_ENV = {
  EMMS_SETTLE_SERIES_IDLE_MS: '2000',
  EMMS_SETTLE_QUIET_WINDOW_MS: '2000',
  EMMS_SETTLE_CHECK_INTERVAL_MS: '200',
};
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
});

const value = (s: number, k: number): number => Math.round((s * 7 + Math.sin(k / 10) * 100) * 1000) / 1000;

/** Sends `points` points of each of `series` series (metric `metric`, tag host=h<s>) from index `from`, in requests of `perRequest` series. */
async function ingest(server: ServerProcess, metric: string, series: number, from: number, points: number, perRequest = 25): Promise<void> {
  for (let s0 = 0; s0 < series; s0 += perRequest) {
    const body = { series: [] as unknown[] };
    for (let s = s0; s < Math.min(series, s0 + perRequest); s++) {
      const timestamps: number[] = [];
      const values: number[] = [];
      for (let k = from; k < from + points; k++) {
        timestamps.push(T0 + k * STEP_MS);
        values.push(value(s, k));
      }
      body.series.push({ metric_id: metric, tags: { host: `h${s}` }, timestamps, values });
    }
    const r = await fetch(`${server.base}/api/v1/metrics`, { method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect(r.status, await r.text()).toBeLessThan(300);
  }
}

async function storageHealth(server: ServerProcess): Promise<Record<string, any>> {
  const r = await fetch(`${server.base}/health`, { headers: server.auth });
  const body = await r.json() as { components: { storage: Record<string, any> } };
  return body.components.storage;
}

async function waitSettled(server: ServerProcess, timeout = 30_000): Promise<Record<string, any>> {
  await expect.poll(async () => (await storageHealth(server)).settled, { timeout, interval: 100 }).toBe(true);
  return storageHealth(server);
}

/** Every stored point of `metric` equals the one sent (computed independently), none missing. */
async function expectStored(server: ServerProcess, metric: string, series: number, points: number): Promise<void> {
  const { status, body } = await queryRaw(server.base, { metric_pattern: metric, start_time: '0', end_time: String(T0 + 1e10) }, server.auth);
  expect(status).toBe(200);
  expect(body.series.length).toBe(series);
  let wrong = 0;
  for (const s of body.series) {
    const idx = Number(String(s.tags.host).slice(1));
    if (s.points.length !== points) wrong++;
    for (const [t, v] of s.points) if (v !== value(idx, (t - T0) / STEP_MS)) wrong++;
  }
  expect(wrong).toBe(0);
}

describe('emms serve settles when ingest goes quiet', () => {
  it('settles after a burst; a trickle writer then gets no chunk per point', async () => {
    const { dir, remove } = tempDir('emms-settle-');
    cleanups.push(remove);
    const server = await startServer(['--data', dir], SETTLE_ENV);
    try {
      await ingest(server, 'settle.burst', 100, 0, 3000);
      const busy = await storageHealth(server);
      expect(busy.head_points + busy.pending_cut_points).toBeGreaterThan(0);
      const settled = await waitSettled(server);
      expect(settled).toMatchObject({ pending_cuts: 0, compaction_backlog: 0, heads_to_settle: 0, checkpoint_running: false, compaction_running: false });
      // The server's own collectors keep writing a few points a second (a trickle of their own):
      // what stays in heads and records is theirs, far below the burst's 300,000 points and MBs.
      expect(settled.head_points).toBeLessThan(1000);
      expect(settled.wal_bytes).toBeLessThan(256 * 1024);
      // 3,000 points per series fit one chunk: cuts packed (the collectors' small heads are not cut).
      expect(settled.chunks).toBe(100);
      expect(Date.parse(settled.last_settled_at)).toBeGreaterThan(T0);
      await expectStored(server, 'settle.burst', 100, 3000);

      const metrics = await (await fetch(`${server.base}/metrics`, { headers: server.auth })).text();
      expect(metrics).toMatch(/^emms_storage_settled 1$/m);
      expect(metrics).toMatch(/^emms_wal_oldest_record_age_seconds [0-9.]+$/m);
      expect(metrics).toMatch(/^# TYPE emms_storage_compaction_backlog_series gauge$/m);

      // One point a second per series for 8 s: each series is written every second, never idle 2 s.
      for (let k = 0; k < 8; k++) {
        const sent = Date.now();
        await ingest(server, 'settle.trickle', 20, k, 1, 20);
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1000 - (Date.now() - sent))));
      }
      const after = await waitSettled(server);
      // A chunk per point would be 160 more.
      expect(after.chunks).toBe(settled.chunks);
      expect(after.head_points).toBeGreaterThanOrEqual(160);
      await expectStored(server, 'settle.trickle', 20, 8);
    } finally {
      server.proc.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('loses no acknowledged point to a SIGKILL while settling runs', async () => {
    const { dir, remove } = tempDir('emms-settle-kill-');
    cleanups.push(remove);
    const server = await startServer(['--data', dir], SETTLE_ENV);
    let killedWhile = '';
    try {
      await ingest(server, 'settle.kill', 400, 0, 1000);
      // Kill as soon as settling shows work in flight.
      await expect.poll(async () => {
        const h = await storageHealth(server);
        killedWhile = h.checkpoint_running ? 'checkpoint' : h.compaction_running ? 'compaction' : h.settled ? 'settled' : '';
        return killedWhile;
      }, { timeout: 30_000, interval: 10 }).not.toBe('');
      server.proc.kill('SIGKILL');
      expect(await server.exited).toBe('SIGKILL');
    } finally {
      server.proc.kill('SIGKILL');
    }
    expect(killedWhile).toMatch(/checkpoint|compaction/);
    const again = await startServer(['--data', dir], SETTLE_ENV);
    try {
      await expectStored(again, 'settle.kill', 400, 1000);
      const settled = await waitSettled(again);
      expect(settled.chunks).toBe(400);
      expect(settled.wal_bytes).toBeLessThan(256 * 1024);
      await expectStored(again, 'settle.kill', 400, 1000);
    } finally {
      again.proc.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  });
});
