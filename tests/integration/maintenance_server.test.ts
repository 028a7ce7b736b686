/**
 * The maintenance commands against real `emms serve` processes and the real CLI: a backup
 * taken through the operator API while three clients stream holds every point acknowledged
 * before it started and only whole batches of the rest; restored into an empty directory, a
 * server answers queries identically to the source; a corrupted archive is refused naming
 * the file, and the target is left as it was.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_ENTRY, REPO_ROOT, StreamingClient, queryRaw, startServer, tempDir, type AckedBatch, type ServerProcess } from './server_harness.js';

const T0 = Date.UTC(2025, 0, 1);
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of cleanups) c();
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', CLI_ENTRY, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => proc.on('exit', (code) => resolve({ code, stdout, stderr })));
}

async function stop(server: ServerProcess): Promise<void> {
  server.proc.kill('SIGTERM');
  expect(await server.exited).toBe(0);
}

describe('backup and restore of a running server', () => {
  it('holds every point acknowledged before the backup, nothing torn; the restore answers like the source; a corrupted archive is refused', async () => {
    const { dir: root, remove } = tempDir('emms-maint-');
    cleanups.push(remove);
    const source = join(root, 'source');
    mkdirSync(source);
    const server = await startServer(['--data', source]);
    const tokenFile = join(source, 'admin.token');
    const clients = [0, 1, 2].map((c) => new StreamingClient(server.wsUrl, 'bk.rows', `c${c}`, {
      pointsPerFrame: 50, window: 2, startTs: T0 + c * 1e9, refuseEvery: 9, headers: server.auth,
    }));
    const running = clients.map((c) => c.start().catch(() => undefined));
    await expect.poll(() => clients.every((c) => c.acked.length >= 20), { timeout: 20_000, interval: 50 }).toBe(true);

    // Everything acknowledged up to here must be in the archive.
    const ackedBefore: AckedBatch[][] = clients.map((c) => [...c.acked]);
    const archive = join(root, 'online.tar.gz');
    const backup = await cli(['backup', '--url', server.base, '--token-file', tokenFile, '--output', archive]);
    expect(backup.stderr).not.toMatch(/emms backup:/);
    expect(backup.code).toBe(0);
    expect(backup.stdout).toMatch(/^backup .*online\.tar\.gz: \d+ bytes/);
    // Ingest went on during the backup.
    const ackedDuring = clients.map((c, i) => c.acked.length - ackedBefore[i]!.length);
    await Promise.all(clients.map((c) => c.stop()));
    await Promise.all(running);
    expect(ackedDuring.some((n) => n > 0)).toBe(true);

    const restoredDir = join(root, 'restored');
    const restore = await cli(['restore', '--input', archive, '--data', restoredDir]);
    expect(restore.code).toBe(0);
    expect(restore.stderr).toMatch(/verify checksums/);
    const restored = await startServer(['--data', restoredDir], {});
    const restoredAuth = server.auth;
    try {
      for (const [i, c] of clients.entries()) {
        const { status, body } = await queryRaw(restored.base, { metric_pattern: 'bk.rows', 'tag.client': `c${i}`, start_time: '0' }, restoredAuth);
        expect(status).toBe(200);
        const stored = new Map<number, number>();
        for (const s of body.series) for (const [t, v] of s.points) stored.set(t, v);
        let missing = 0;
        for (const batch of ackedBefore[i]!) batch.timestamps.forEach((t, k) => { if (stored.get(t) !== batch.values[k]) missing++; });
        expect(missing).toBe(0);
        // Nothing torn: every acknowledged batch is there whole or not at all, and nothing else is.
        let inBatches = 0;
        for (const batch of c.acked) {
          const present = batch.timestamps.filter((t) => stored.has(t)).length;
          expect([0, batch.timestamps.length]).toContain(present);
          inBatches += present;
        }
        expect(stored.size).toBe(inBatches);
      }
      const refused = await queryRaw(restored.base, { metric_pattern: 'refused.*', start_time: '0' }, restoredAuth);
      expect(refused.body.series).toEqual([]);
    } finally {
      await stop(restored);
    }

    // A backup of the source now that ingest has stopped: the restore answers identically.
    const quiet = join(root, 'quiet.tar.gz');
    expect((await cli(['backup', '--url', server.base, '--token-file', tokenFile, '--output', quiet])).code).toBe(0);
    const copyDir = join(root, 'copy');
    expect((await cli(['restore', '--input', quiet, '--data', copyDir])).code).toBe(0);
    const copy = await startServer(['--data', copyDir]);
    try {
      const queries: Array<Record<string, string>> = [
        { metric_pattern: 'bk.*', start_time: '0' },
        { metric_pattern: 'bk.rows', start_time: String(T0), end_time: String(T0 + 3e9), aggregation: 'avg', interval: '1d' },
        { metric_pattern: 'bk.rows', 'tag.client': 'c1', start_time: String(T0 + 1e9 + 500), end_time: String(T0 + 1e9 + 2500) },
      ];
      for (const params of queries) {
        const a = await queryRaw(server.base, params, server.auth);
        const b = await queryRaw(copy.base, params, server.auth);
        expect(a.status).toBe(200);
        if (params.aggregation === undefined) {
          expect(b.body.series).toEqual(a.body.series);
          continue;
        }
        // An average sums in the order the points sit in chunks and heads, and the source may
        // have cut heads after the backup was taken: equal to the last bits only (seen once in
        // CI: 0.0000559643255295443 against 0.000055964325529515624).
        expect(sameSeriesWithin(b.body.series, a.body.series, 1e-12)).toBe(true);
      }
    } finally {
      await stop(copy);
      await stop(server);
    }

    // Corrupted: one byte of the compressed stream flipped; the target keeps what it had.
    const bytes = readFileSync(quiet);
    const raw = gunzipSync(bytes);
    // The tar's second entry is metrics.db: flip a byte well inside its data.
    raw[512 * 3 + 4096] = raw[512 * 3 + 4096]! ^ 0xff;
    const corrupted = join(root, 'corrupted.tar.gz');
    writeFileSync(corrupted, gzipSync(raw));
    const bad = await cli(['restore', '--input', corrupted, '--data', copyDir, '--force']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/emms restore: .*corrupted\.tar\.gz: checksum mismatch for metrics\.db/);
    expect(existsSync(join(copyDir, 'metrics.db'))).toBe(true);
    expect(readdirSync(root).filter((n) => n.startsWith('.'))).toEqual([]);
  }, 120_000);
});

/** Whether two query answers name the same series and timestamps, their values equal within `relative`. */
function sameSeriesWithin(got: unknown, want: unknown, relative: number): boolean {
  const g = got as Array<{ points: Array<[number, number]> }>;
  const w = want as Array<{ points: Array<[number, number]> }>;
  if (!Array.isArray(g) || !Array.isArray(w) || g.length !== w.length) return false;
  return g.every((series, k) => {
    const other = w[k]!;
    const { points: gp, ...gRest } = series;
    const { points: wp, ...wRest } = other;
    if (JSON.stringify(gRest) !== JSON.stringify(wRest) || gp.length !== wp.length) return false;
    return gp.every(([t, v], i) => t === wp[i]![0] && Math.abs(v - wp[i]![1]) <= relative * Math.max(Math.abs(v), Math.abs(wp[i]![1])));
  });
}
