/**
 * The server's maximum row-form ingest rate, measured as bench/server_ingest.bench.ts measures
 * it (8 connections of 100 hosts, 16 frames in flight each) on a scratch server of its own, for
 * the benches that load a server at half of it.
 */
import { runLoadGenerator, startServerProcess } from './server_process.js';

export async function measureMaxRowRate(scratchDir: string, seconds = 4): Promise<number> {
  const scratch = await startServerProcess(scratchDir);
  try {
    const r = await runLoadGenerator(['--url', scratch.wsUrl, '--token-file', scratch.adminTokenFile, '--seconds', String(seconds), '--form', 'rows', '--connections', '8', '--window', '16']);
    return r.pointsPerSecond;
  } finally {
    await scratch.stop();
  }
}
