// lowerThisThreadPriority (src/workers/background_priority.ts): lowers the nice value of the
// calling thread only, as the chunk encoder does at start; the process's other threads keep theirs.
import { mkdtempSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { getPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { BACKGROUND_NICE } from '../../src/workers/background_priority.js';

interface WorkerReport {
  tid: number;
  before: number;
  lowered: boolean;
  after: number;
}

/** Runs lowerThisThreadPriority(...args) in a new worker thread and reports that thread's nice values. */
function inWorker(args: number[]): Promise<WorkerReport> {
  const moduleUrl = new URL('../../src/workers/background_priority.ts', import.meta.url).href;
  // The module is TypeScript: the worker loads it through tsx's API. (With tsx's loader in
  // execArgv, as src/workers/pool_factory.ts starts workers, a top-level import of a .ts file in
  // the worker's first module fails with "Unknown file extension".)
  const source = `
    import { parentPort } from 'node:worker_threads';
    import { readlinkSync } from 'node:fs';
    import { getPriority } from 'node:os';
    import { tsImport } from ${JSON.stringify(import.meta.resolve('tsx/esm/api'))};
    const { lowerThisThreadPriority } = await tsImport(${JSON.stringify(moduleUrl)}, import.meta.url);
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    const before = getPriority(tid);
    const lowered = lowerThisThreadPriority(...${JSON.stringify(args)});
    parentPort.postMessage({ tid, before, lowered, after: getPriority(tid) });
  `;
  const dir = mkdtempSync(join(tmpdir(), 'emms-priority-'));
  const script = join(dir, 'lower_priority.mjs');
  writeFileSync(script, source);
  const worker = new Worker(script);
  return new Promise<WorkerReport>((resolve, reject) => {
    worker.once('message', (report: WorkerReport) => {
      resolve(report);
      void worker.terminate();
    });
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited with code ${code} before reporting`)));
  }).finally(() => rmSync(dir, { recursive: true, force: true }));
}

function ownTid(): number {
  return Number(readlinkSync('/proc/thread-self').split('/').pop());
}

// Per-thread nice values are a Linux feature; elsewhere the function is documented to do nothing.
describe.runIf(process.platform === 'linux')('lowerThisThreadPriority', () => {
  it(`sets the calling thread's nice value to BACKGROUND_NICE=${BACKGROUND_NICE} and leaves the other threads alone`, async () => {
    const mainBefore = getPriority(ownTid());
    const report = await inWorker([]);
    expect(report.tid).not.toBe(ownTid());
    // Raising a nice value needs no privilege; only a thread already nicer than 10 stays put.
    if (report.before <= BACKGROUND_NICE) {
      expect(report.lowered).toBe(true);
      expect(report.after).toBe(BACKGROUND_NICE);
    }
    expect(getPriority(ownTid())).toBe(mainBefore);
    expect(getPriority(process.pid)).toBe(getPriority(ownTid()));
  });

  it('takes another nice value, and reports false when the thread may not get it', async () => {
    const report = await inWorker([15]);
    if (report.before <= 15) {
      expect(report.lowered).toBe(true);
      expect(report.after).toBe(15);
    }
    // Out of range for setpriority (nice values end at 19): refused, nothing changed.
    const refused = await inWorker([1000]);
    expect(refused.lowered).toBe(false);
    expect(refused.after).toBe(refused.before);
  });
});
