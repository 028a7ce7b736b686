/**
 * Durability: a child process ingests and acknowledges batches; it is killed with SIGKILL;
 * reopening the database finds every acknowledged batch, whole. Run twice, the second time on
 * the database the first kill left behind (replay, then more writes, then another kill).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMetricsSystem } from '../../src/index.js';
import { BIG_POINTS_PER_SERIES, BIG_SERIES, DURABILITY_T0, SMALL_PER_ROUND } from './durability_child.js';

const CHILD = fileURLToPath(new URL('./durability_child.ts', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-durability-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs the child until it acknowledged `acks` batches, then SIGKILLs it; returns what it acknowledged. */
function runAndKill(path: string, firstRound: number, acks: number): Promise<{ big: number[]; small: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, path, String(firstRound)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const big: number[] = [];
    const small: number[] = [];
    let buffered = '';
    let stderr = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (text: string) => {
      buffered += text;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const [, kind, n] = buffered.slice(0, nl).split(' ');
        buffered = buffered.slice(nl + 1);
        if (killed) continue;
        (kind === 'big' ? big : small).push(Number(n));
        if (big.length + small.length >= acks) {
          killed = true;
          child.kill('SIGKILL');
        }
      }
    });
    child.stderr.on('data', (text: Buffer) => {
      stderr += text.toString();
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ big, small });
      else reject(new Error(`child exited with code ${code} before being killed: ${stderr}`));
    });
  });
}

async function storedRounds(path: string): Promise<{ big: Map<number, number>; small: Map<number, number> }> {
  const ms = createMetricsSystem({ path, queryWorkers: 0 });
  await ms.start();
  try {
    const big = new Map<number, number>();
    for (const s of await ms.queryMetrics({ metricPattern: 'dur.big', startTime: 0 })) {
      s.timestamps.forEach((t, i) => {
        const k = (t - DURABILITY_T0) % BIG_POINTS_PER_SERIES;
        const round = (t - DURABILITY_T0 - k) / BIG_POINTS_PER_SERIES;
        expect(s.values[i]).toBe(round * 1000 + k);
        big.set(round, (big.get(round) ?? 0) + 1);
      });
    }
    const small = new Map<number, number>();
    for (const s of await ms.queryMetrics({ metricPattern: 'dur.small', startTime: 0 })) {
      s.timestamps.forEach((t, i) => {
        const round = Math.floor((t - DURABILITY_T0) / SMALL_PER_ROUND);
        expect(s.values[i]).toBe(round);
        small.set(round, (small.get(round) ?? 0) + 1);
      });
    }
    return { big, small };
  } finally {
    await ms.stop();
  }
}

describe('SIGKILL after acknowledged batches', () => {
  it('loses none of them, across two kills', async () => {
    const path = join(dir, 'kill.db');
    // The second child starts on the database the first kill left, at rounds of its own.
    for (const [firstRound, acks] of [[0, 24], [1000, 40]] as const) {
      const acked = await runAndKill(path, firstRound, acks);
      expect(acked.big.length).toBeGreaterThan(0);
      const stored = await storedRounds(path);
      for (const round of acked.big) expect(stored.big.get(round), `big round ${round}`).toBe(BIG_SERIES * BIG_POINTS_PER_SERIES);
      for (const round of acked.small) expect(stored.small.get(round), `small round ${round}`).toBe(SMALL_PER_ROUND);
    }
  });
});
