/**
 * Parsers for the Linux /proc files the system collector reads (proc(5)). Pure functions over
 * the file text, so they are tested on fixed text as well as on the live files.
 */

/** One `cpu`/`cpuN` line of /proc/stat, in clock ticks since boot. */
export interface CpuTimes {
  /** `total` for the aggregate line, else the core number as text. */
  cpu: string;
  /** Ticks not spent idle or waiting for I/O. */
  busy: number;
  /** user + nice + system + idle + iowait + irq + softirq + steal (guest is already in user). */
  total: number;
}

export function parseProcStat(text: string): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const parts = line.trim().split(/\s+/);
    const name = parts[0]!;
    const f = parts.slice(1, 9).map(Number);
    while (f.length < 8) f.push(0);
    if (f.some((x) => !Number.isFinite(x))) continue;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    const total = user + nice + system + idle + iowait + irq + softirq + steal;
    out.push({ cpu: name === 'cpu' ? 'total' : name.slice(3), busy: total - idle - iowait, total });
  }
  return out;
}

/** Busy percentage between two readings of the same CPU; null when no tick passed. */
export function cpuUsagePercent(before: CpuTimes, after: CpuTimes): number | null {
  const dTotal = after.total - before.total;
  if (dTotal <= 0) return null;
  const dBusy = after.busy - before.busy;
  return Math.min(100, Math.max(0, (100 * dBusy) / dTotal));
}

/** /proc/meminfo fields in bytes (the file says kB, meaning KiB). */
export function parseMeminfo(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?/.exec(line);
    if (m !== null) out.set(m[1]!, Number(m[2]) * (line.includes(' kB') ? 1024 : 1));
  }
  return out;
}

/** Used memory as a percentage: (MemTotal − MemAvailable) / MemTotal, as `free` counts it. */
export function memoryUsagePercent(meminfo: Map<string, number>): number | null {
  const total = meminfo.get('MemTotal');
  const available = meminfo.get('MemAvailable') ?? (meminfo.get('MemFree') ?? 0) + (meminfo.get('Buffers') ?? 0) + (meminfo.get('Cached') ?? 0);
  if (total === undefined || total <= 0) return null;
  return (100 * (total - available)) / total;
}

export interface InterfaceCounters {
  iface: string;
  bytesRecv: number;
  bytesSent: number;
  /** Receive plus transmit errors. */
  errors: number;
}

/** /proc/net/dev: two header lines, then `iface: rx bytes packets errs drop fifo frame compressed multicast tx bytes packets errs …`. */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const iface = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (f.length < 16 || f.some((x) => !Number.isFinite(x))) continue;
    out.push({ iface, bytesRecv: f[0]!, bytesSent: f[8]!, errors: f[2]! + f[10]! });
  }
  return out;
}

export interface MountEntry {
  device: string;
  mountPoint: string;
  fsType: string;
}

/** Filesystems that hold no user data (kernel interfaces, memory-backed, containers' plumbing). */
const PSEUDO_FS = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'tmpfs', 'cgroup', 'cgroup2', 'mqueue', 'securityfs', 'debugfs', 'tracefs',
  'pstore', 'bpf', 'autofs', 'configfs', 'fusectl', 'hugetlbfs', 'binfmt_misc', 'nsfs', 'ramfs', 'rpc_pipefs',
  'selinuxfs', 'efivarfs', 'squashfs', 'overlay_internal', 'fuse.lxcfs', 'fuse.portal', 'nfsd', 'sunrpc',
]);

/** Real filesystems of /proc/mounts (octal escapes such as `\040` for a space decoded), first mount of each point. */
export function parseMounts(text: string): MountEntry[] {
  const seen = new Set<string>();
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const [device, mountPoint, fsType] = line.split(' ');
    if (device === undefined || mountPoint === undefined || fsType === undefined) continue;
    if (PSEUDO_FS.has(fsType)) continue;
    const mp = mountPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (seen.has(mp)) continue;
    seen.add(mp);
    out.push({ device, mountPoint: mp, fsType });
  }
  return out;
}

/** Disk usage as `df` shows it: used / (used + available to unprivileged users). */
export function diskUsagePercent(s: { blocks: number; bfree: number; bavail: number }): number | null {
  const used = s.blocks - s.bfree;
  const denominator = used + s.bavail;
  if (s.blocks <= 0 || denominator <= 0) return null;
  return (100 * used) / denominator;
}
