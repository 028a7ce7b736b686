/**
 * System metrics from /proc on Linux, from Node's os module elsewhere:
 *
 *   system.cpu.usage_total            gauge, % busy of all CPUs since the previous collection
 *   system.cpu.usage {core}           gauge, % busy per core
 *   system.memory.usage_percent       gauge, (MemTotal − MemAvailable) / MemTotal
 *   system.disk.usage_percent {mount, device, fstype}   gauge, used / (used + available), as df
 *   system.network.bytes_sent / bytes_recv / errors {interface}   counters since boot
 *
 * CPU usage is a rate, so it needs two readings: the first is taken when the collector is
 * made, and each collection measures the time since the previous one. Without /proc
 * (macOS, Windows) CPU comes from os.cpus() times, memory from os.totalmem/freemem (free
 * memory there excludes caches, so it reads higher than Linux's MemAvailable would), disk
 * from statfs of the root, and there are no network counters (the os module has none).
 */
import { existsSync, statfsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import type { MetricDataPoint } from '../model/metric.js';
import type { Collector } from './collector.js';
import {
  cpuUsagePercent, diskUsagePercent, memoryUsagePercent, parseMeminfo, parseMounts, parseNetDev, parseProcStat,
  type CpuTimes,
} from './proc_readers.js';

export const SYSTEM_METRICS = {
  cpuTotal: 'system.cpu.usage_total',
  cpuCore: 'system.cpu.usage',
  memory: 'system.memory.usage_percent',
  disk: 'system.disk.usage_percent',
  bytesSent: 'system.network.bytes_sent',
  bytesRecv: 'system.network.bytes_recv',
  networkErrors: 'system.network.errors',
} as const;

export interface SystemCollectorOptions {
  /** Root of the proc filesystem; tests point it at a folder of fixture files. Default `/proc`. */
  procRoot?: string;
  /** Force the os-module path even where /proc exists. */
  useOsModule?: boolean;
  /** statfs for disk usage; injectable for tests. */
  statfs?: (path: string) => { blocks: number; bfree: number; bavail: number };
}

export class SystemCollector implements Collector {
  readonly name = 'system';
  readonly metricPrefixes = ['system.'] as const;
  readonly #procRoot: string;
  readonly #useProc: boolean;
  readonly #statfs: (path: string) => { blocks: number; bfree: number; bavail: number };
  #previousCpu: Map<string, CpuTimes> | null = null;

  private constructor(options: SystemCollectorOptions) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#useProc = options.useOsModule !== true && existsSync(join(this.#procRoot, 'stat'));
    this.#statfs = options.statfs ?? ((p) => statfsSync(p));
  }

  /** Makes the collector and takes the first CPU reading. */
  static async create(options: SystemCollectorOptions = {}): Promise<SystemCollector> {
    const c = new SystemCollector(options);
    c.#previousCpu = await c.#readCpu();
    return c;
  }

  get source(): 'proc' | 'os' {
    return this.#useProc ? 'proc' : 'os';
  }

  async #readCpu(): Promise<Map<string, CpuTimes>> {
    const list = this.#useProc ? parseProcStat(await readFile(join(this.#procRoot, 'stat'), 'utf8')) : osCpuTimes();
    return new Map(list.map((c) => [c.cpu, c]));
  }

  async collect(nowMs: number): Promise<MetricDataPoint[]> {
    const points: MetricDataPoint[] = [];
    const gauge = (metricId: string, value: number | null, tags?: Record<string, string>): void => {
      if (value === null || !Number.isFinite(value)) return;
      points.push(tags === undefined ? { metricId, value, timestamp: nowMs, metricType: 'gauge' } : { metricId, value, timestamp: nowMs, metricType: 'gauge', tags });
    };

    const cpu = await this.#readCpu();
    const before = this.#previousCpu;
    this.#previousCpu = cpu;
    if (before !== null) {
      for (const [name, now] of cpu) {
        const prev = before.get(name);
        if (prev === undefined) continue;
        const pct = cpuUsagePercent(prev, now);
        if (name === 'total') gauge(SYSTEM_METRICS.cpuTotal, pct);
        else gauge(SYSTEM_METRICS.cpuCore, pct, { core: name });
      }
    }

    if (this.#useProc) {
      gauge(SYSTEM_METRICS.memory, memoryUsagePercent(parseMeminfo(await readFile(join(this.#procRoot, 'meminfo'), 'utf8'))));
      const mounts = parseMounts(await readFile(join(this.#procRoot, 'mounts'), 'utf8'));
      for (const m of mounts) {
        let usage: number | null;
        try {
          usage = diskUsagePercent(this.#statfs(m.mountPoint));
        } catch {
          // A mount can vanish or deny access between reading /proc/mounts and statfs.
          continue;
        }
        gauge(SYSTEM_METRICS.disk, usage, { mount: m.mountPoint, device: m.device, fstype: m.fsType });
      }
      for (const n of parseNetDev(await readFile(join(this.#procRoot, 'net', 'dev'), 'utf8'))) {
        const tags = { interface: n.iface };
        points.push(
          { metricId: SYSTEM_METRICS.bytesSent, value: n.bytesSent, timestamp: nowMs, metricType: 'counter', tags },
          { metricId: SYSTEM_METRICS.bytesRecv, value: n.bytesRecv, timestamp: nowMs, metricType: 'counter', tags },
          { metricId: SYSTEM_METRICS.networkErrors, value: n.errors, timestamp: nowMs, metricType: 'counter', tags },
        );
      }
    } else {
      const total = os.totalmem();
      gauge(SYSTEM_METRICS.memory, total > 0 ? (100 * (total - os.freemem())) / total : null);
      const root = os.platform() === 'win32' ? 'C:\\' : '/';
      try {
        gauge(SYSTEM_METRICS.disk, diskUsagePercent(this.#statfs(root)), { mount: root, device: root, fstype: 'unknown' });
      } catch {
        // No statfs for the root (unusual platforms): no disk gauge.
      }
    }
    return points;
  }
}

function osCpuTimes(): CpuTimes[] {
  const cores = os.cpus();
  const out: CpuTimes[] = [];
  let busyAll = 0;
  let totalAll = 0;
  cores.forEach((c, i) => {
    const t = c.times;
    const total = t.user + t.nice + t.sys + t.idle + t.irq;
    const busy = total - t.idle;
    busyAll += busy;
    totalAll += total;
    out.push({ cpu: String(i), busy, total });
  });
  out.push({ cpu: 'total', busy: busyAll, total: totalAll });
  return out;
}
