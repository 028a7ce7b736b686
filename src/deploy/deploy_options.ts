/**
 * What `emms deploy` is asked for: the mode, the infrastructure, the storage back-end and the
 * extras, checked once here so that every generator can trust them. Errors name the option,
 * the value and what is allowed.
 */

export const DEPLOY_MODES = ['development', 'production'] as const;
export const DEPLOY_INFRASTRUCTURES = ['docker', 'kubernetes', 'systemd'] as const;
export const DEPLOY_STORAGES = ['sqlite', 'redis', 'postgresql'] as const;

export type DeployMode = (typeof DEPLOY_MODES)[number];
export type DeployInfrastructure = (typeof DEPLOY_INFRASTRUCTURES)[number];
export type DeployStorage = (typeof DEPLOY_STORAGES)[number];

export interface DeployTarget {
  /** CPUs of the machine or pod the server will run on. */
  cpus: number;
  /** Memory of that machine or pod, MiB. */
  memoryMiB: number;
}

export interface DeployOptions {
  mode: DeployMode;
  infrastructure: DeployInfrastructure;
  storage: DeployStorage;
  enablePrometheus: boolean;
  enableGrafana: boolean;
  autoTune: boolean;
  target: DeployTarget;
  /** Image name written into compose and the manifests, e.g. `registry.example.org/emms:1.2.0`. */
  image: string;
  /** Port EMMS listens on inside the container or on the host. */
  port: number;
  /** systemd: where the built package lives (its dist/cli/main.js) and the node binary. */
  installDir: string;
  nodePath: string;
}

export class DeployOptionError extends Error {
  constructor(option: string, value: unknown, allowed: string) {
    super(`--${option}=${JSON.stringify(value)} ${allowed}`);
    this.name = 'DeployOptionError';
  }
}

export function oneOfOption<T extends string>(option: string, value: string | undefined, allowed: readonly T[]): T {
  if (value === undefined) throw new DeployOptionError(option, value, `is required: one of ${allowed.join(', ')}`);
  if (!(allowed as readonly string[]).includes(value)) throw new DeployOptionError(option, value, `must be one of ${allowed.join(', ')}`);
  return value as T;
}

export function integerOption(option: string, value: string, min: number, max: number): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new DeployOptionError(option, value, `must be an integer in [${min}, ${max}]`);
  return n;
}

/** Checks the cross-option rules generators rely on. */
export function checkDeployOptions(o: DeployOptions): DeployOptions {
  if (!/^[a-z0-9][a-z0-9._\-/:@]{0,254}$/.test(o.image)) throw new DeployOptionError('image', o.image, 'must be an image reference such as emms:local or registry.example.org/emms:1.2.0 (lower case)');
  if (!o.installDir.startsWith('/')) throw new DeployOptionError('install-dir', o.installDir, 'must be an absolute path');
  if (!o.nodePath.startsWith('/')) throw new DeployOptionError('node', o.nodePath, 'must be an absolute path to the node binary');
  if (/[\s"'\\$%]/.test(o.installDir + o.nodePath)) throw new DeployOptionError('install-dir', o.installDir, 'and --node must not contain spaces, quotes, $, % or backslashes (they go into a systemd ExecStart line)');
  return o;
}

/**
 * True when the data lives outside the EMMS node (a PostgreSQL schema or a Redis prefix that
 * several nodes may point at). Of those nodes one writes at a time and the others wait as
 * standbys (src/cluster/writer_lease.ts); SQLite is a file inside the node's data directory.
 */
export function isSharedStorage(storage: DeployStorage): boolean {
  return storage !== 'sqlite';
}
