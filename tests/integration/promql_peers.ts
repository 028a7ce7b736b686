/**
 * The two engines the PromQL conformance tests compare, loaded with the same points: a real
 * Prometheus (Debian's 2.42) whose blocks `promtool tsdb create-blocks-from openmetrics` built
 * from the dataset, and a real `emms serve` fed through its columnar ingest API. Both run on
 * free loopback ports in a temporary directory and are stopped by `close()`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, tempDir, type ServerProcess } from './server_harness.js';
import { freePort, startPeer, type Peer } from './remote_write_peers.js';
import { buildDataset, toOpenMetrics, type DatasetSeries } from './promql_dataset.js';

export interface Peers {
  prometheus: Peer;
  emms: ServerProcess;
  /** `Authorization` header of the EMMS operator. */
  auth: Record<string, string>;
  dataset: DatasetSeries[];
  dir: string;
  close(): Promise<void>;
}

export async function ingestIntoEmms(emms: ServerProcess, series: readonly DatasetSeries[]): Promise<void> {
  const body = {
    series: series.map((s) => ({ metric_id: s.metricId, metric_type: s.metricType, tags: s.tags, timestamps: s.timestamps, values: s.values })),
  };
  const r = await fetch(`${emms.base}/api/v1/metrics`, { method: 'POST', headers: { ...emms.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`EMMS ingest answered ${r.status}: ${await r.text()}`);
}

export async function startPeers(): Promise<Peers> {
  const tmp = tempDir('emms-promql-');
  const dataset = buildDataset();
  const promData = join(tmp.dir, 'prometheus');
  mkdirSync(promData);
  const omFile = join(tmp.dir, 'data.om');
  writeFileSync(omFile, toOpenMetrics(dataset));
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', omFile, promData], { stdio: 'pipe' });
  const config = join(tmp.dir, 'prometheus.yml');
  writeFileSync(config, 'global:\n  scrape_interval: 15s\n');
  const port = await freePort();
  const stops: Array<() => Promise<void>> = [];
  try {
    const prometheus = await startPeer('prometheus', [
      `--config.file=${config}`, `--storage.tsdb.path=${promData}`, `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=100y', '--log.level=warn',
    ], port, '/-/ready');
    stops.push(() => prometheus.kill());
    const emmsData = join(tmp.dir, 'emms');
    mkdirSync(emmsData);
    const emms = await startServer(['--data', emmsData]);
    stops.push(async () => {
      emms.proc.kill('SIGTERM');
      await emms.exited;
    });
    await ingestIntoEmms(emms, dataset);
    return {
      prometheus, emms, auth: emms.auth, dataset, dir: tmp.dir,
      async close() {
        for (const stop of stops.reverse()) await stop();
        tmp.remove();
      },
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    tmp.remove();
    throw err;
  }
}
