/**
 * Real server processes: SIGKILL while clients stream, then restart and check that every
 * acknowledged point is stored and no refused batch left anything; SIGTERM under load exits 0
 * within 10 s with nothing acknowledged lost.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { StreamingClient, queryRaw, startServer, tempDir, type AckedBatch, type ServerProcess } from './server_harness.js';

const T0 = Date.UTC(2025, 0, 1);
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of cleanups) c();
});

async function expectAllAcked(server: ServerProcess, metricId: string, client: string, acked: AckedBatch[]): Promise<void> {
  const { status, body } = await queryRaw(server.base, { metric_pattern: metricId, 'tag.client': client, start_time: '0' }, server.auth);
  expect(status).toBe(200);
  const stored = new Map<number, number>();
  for (const s of body.series) for (const [t, v] of s.points) stored.set(t, v);
  let missing = 0;
  for (const batch of acked) {
    for (let i = 0; i < batch.timestamps.length; i++) {
      if (stored.get(batch.timestamps[i]!) !== batch.values[i]) missing++;
    }
  }
  expect(missing).toBe(0);
}

async function expectNothingRefused(server: ServerProcess): Promise<void> {
  const { body } = await queryRaw(server.base, { metric_pattern: 'refused.*', start_time: '0' }, server.auth);
  expect(body.series).toEqual([]);
}

describe('emms serve durability', () => {
  it('keeps every acknowledged point across SIGKILL, and nothing of refused batches', async () => {
    const { dir, remove } = tempDir('emms-kill-');
    cleanups.push(remove);
    const server = await startServer(['--data', dir]);
    const clients = [0, 1, 2].map((c) => new StreamingClient(server.wsUrl, 'durable.rows', `c${c}`, {
      pointsPerFrame: 200, window: 8, startTs: T0 + c * 1e9, refuseEvery: 7, headers: server.auth,
    }));
    const running = clients.map((c) => c.start().catch(() => undefined));
    // Kill mid-stream, once enough has been acknowledged and refused to make the check mean something.
    await expect.poll(() => clients.every((c) => c.acked.length >= 10 && c.nacked.length >= 1), { timeout: 20_000, interval: 50 }).toBe(true);
    server.proc.kill('SIGKILL');
    expect(await server.exited).toBe('SIGKILL');
    await Promise.all(running);
    const ackedCount = clients.reduce((n, c) => n + c.acked.length, 0);
    expect(ackedCount).toBeGreaterThan(10);
    expect(clients.some((c) => c.nacked.length > 0)).toBe(true);

    const again = await startServer(['--data', dir]);
    try {
      for (let c = 0; c < clients.length; c++) await expectAllAcked(again, 'durable.rows', `c${c}`, clients[c]!.acked);
      await expectNothingRefused(again);
    } finally {
      again.proc.kill('SIGTERM');
      expect(await again.exited).toBe(0);
    }
  });

  it('exits 0 on SIGTERM under load within 10 s, losing nothing acknowledged', async () => {
    const { dir, remove } = tempDir('emms-term-');
    cleanups.push(remove);
    const server = await startServer(['--data', dir]);
    const clients = [0, 1].map((c) => new StreamingClient(server.wsUrl, 'term.rows', `c${c}`, { pointsPerFrame: 500, window: 16, startTs: T0 + c * 1e9, headers: server.auth }));
    const running = clients.map((c) => c.start().catch(() => undefined));
    await expect.poll(() => clients.every((c) => c.acked.length >= 20), { timeout: 20_000, interval: 50 }).toBe(true);
    const signalled = Date.now();
    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    await Promise.all(running);
    expect(clients.every((c) => c.acked.length > 0)).toBe(true);

    const again = await startServer(['--data', dir]);
    try {
      for (let c = 0; c < clients.length; c++) await expectAllAcked(again, 'term.rows', `c${c}`, clients[c]!.acked);
    } finally {
      again.proc.kill('SIGINT');
      expect(await again.exited).toBe(0);
    }
  });
});
