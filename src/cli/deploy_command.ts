/**
 * `emms deploy`: writes the deployment artifacts for a mode, an infrastructure and a storage
 * back-end into an output directory (src/deploy/deploy_plan.ts decides which), then prints the
 * warnings and the next commands to run. Refuses a non-empty output directory unless --force;
 * each file is written to a temporary name and renamed, so none is ever half-written.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DEPLOY_INFRASTRUCTURES, DEPLOY_MODES, DEPLOY_STORAGES, DeployOptionError, checkDeployOptions, integerOption, oneOfOption, type DeployOptions,
} from '../deploy/deploy_options.js';
import { planDeployment } from '../deploy/deploy_plan.js';

/** The EMMS source tree (or installed package) this command runs from: src/cli/ or dist/cli/, two levels down. */
const SOURCE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

function help(): string {
  return `Usage: emms deploy --mode development|production --infrastructure docker|kubernetes|systemd
                   --storage sqlite|redis|postgresql --output DIR
                   [--enable-prometheus] [--enable-grafana] [--auto-tune [--target-cpus N] [--target-memory-mib M]]
                   [--image emms:local] [--port 8080] [--install-dir /opt/emms] [--node /usr/bin/node] [--force]

Writes what that deployment needs into DIR:
  docker      Dockerfile (multi-stage, non-root), docker-compose.yml (EMMS, Redis or PostgreSQL,
              Prometheus, Grafana as asked), main.json, .env with generated secrets (0600)
  kubernetes  Dockerfile, kubernetes/*.yaml: StatefulSet + PodDisruptionBudget (sqlite) or a
              Deployment of a writer and a standby (redis, postgresql), Services, ConfigMap,
              Secret, PVC, kustomization
  systemd     emms.service (DynamicUser, ProtectSystem=strict, …), main.json

Options:
  --enable-prometheus   Prometheus scraping EMMS's /metrics (compose service, pod annotations, or a scrape file)
  --enable-grafana      Grafana with EMMS's Prometheus-compatible API (/prometheus) as a data source
  --auto-tune           size decode threads, heap, batch and query limits from the target's
                        CPUs and memory (default: this machine's, ${availableParallelism()} CPUs, ${Math.round(totalmem() / 1048576)} MiB)
  --setup-systemd       the same as --infrastructure systemd
  --force               write into a non-empty DIR (files of the same name are replaced)

Storage redis and postgresql: the URL goes in METRICS_REDIS_URL or METRICS_POSTGRES_URL, from a
secret. One node writes to a shared store at a time, the others wait as standbys; API keys are
per node (use security.jwt with several). Redis must run with --appendonly yes --appendfsync always.
`;
}

const VALUE_FLAGS = new Set(['--mode', '--infrastructure', '--storage', '--output', '--target-cpus', '--target-memory-mib', '--image', '--port', '--install-dir', '--node']);
const SWITCHES = new Set(['--enable-prometheus', '--enable-grafana', '--auto-tune', '--force', '--setup-systemd', '--help', '-h']);

export interface Parsed {
  values: Map<string, string>;
  switches: Set<string>;
}

function parseArgs(argv: string[]): Parsed {
  const out: Parsed = { values: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (SWITCHES.has(arg)) {
      out.switches.add(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(name)) throw new Error(`unknown option ${JSON.stringify(arg)}; see emms deploy --help`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`option ${name} needs a value; see emms deploy --help`);
    out.values.set(name, value);
  }
  return out;
}

export function optionsFrom(p: Parsed): { options: DeployOptions; output: string; force: boolean } {
  const v = (name: string): string | undefined => p.values.get(`--${name}`);
  const infrastructure = p.switches.has('--setup-systemd') ? 'systemd' : oneOfOption('infrastructure', v('infrastructure'), DEPLOY_INFRASTRUCTURES);
  if (p.switches.has('--setup-systemd') && v('infrastructure') !== undefined && v('infrastructure') !== 'systemd') {
    throw new DeployOptionError('infrastructure', v('infrastructure'), 'contradicts --setup-systemd');
  }
  const output = v('output');
  if (output === undefined || output === '') throw new DeployOptionError('output', output, 'is required: the directory to write into');
  const options = checkDeployOptions({
    mode: oneOfOption('mode', v('mode'), DEPLOY_MODES),
    infrastructure,
    storage: oneOfOption('storage', v('storage'), DEPLOY_STORAGES),
    enablePrometheus: p.switches.has('--enable-prometheus'),
    enableGrafana: p.switches.has('--enable-grafana'),
    autoTune: p.switches.has('--auto-tune'),
    target: {
      cpus: v('target-cpus') === undefined ? availableParallelism() : integerOption('target-cpus', v('target-cpus')!, 1, 1024),
      memoryMiB: v('target-memory-mib') === undefined ? Math.floor(totalmem() / 1048576) : integerOption('target-memory-mib', v('target-memory-mib')!, 256, 16 * 1024 * 1024),
    },
    image: v('image') ?? 'emms:local',
    port: v('port') === undefined ? 8080 : integerOption('port', v('port')!, 1, 65535),
    installDir: v('install-dir') ?? '/opt/emms',
    nodePath: v('node') ?? '/usr/bin/node',
  });
  return { options, output, force: p.switches.has('--force') };
}

function writeAtomically(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, content, { mode });
  renameSync(temporary, path);
}

export async function run(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof optionsFrom>;
  try {
    const args = parseArgs(argv);
    if (args.switches.has('--help') || args.switches.has('-h')) {
      process.stdout.write(help());
      return 0;
    }
    parsed = optionsFrom(args);
  } catch (err) {
    process.stderr.write(`emms deploy: ${(err as Error).message}\n`);
    return 2;
  }
  const { options, output, force } = parsed;
  const outDir = resolve(output);
  if (existsSync(outDir) && readdirSync(outDir).length > 0 && !force) {
    process.stderr.write(`emms deploy: ${outDir} is not empty; choose an empty directory or pass --force\n`);
    return 2;
  }
  const plan = planDeployment(options, {
    output,
    sourceFromOutput: relative(outDir, SOURCE_ROOT) || '.',
    outputFromSource: relative(SOURCE_ROOT, outDir) || '.',
  });
  try {
    for (const f of plan.files) writeAtomically(join(outDir, f.path), f.content, f.mode);
  } catch (err) {
    process.stderr.write(`emms deploy: writing ${outDir} failed: ${(err as Error).message}\n`);
    return 1;
  }
  for (const w of plan.warnings) process.stderr.write(`emms deploy: warning: ${w}\n`);
  const lines = [
    `Wrote ${plan.files.length} files for ${options.mode} on ${options.infrastructure} with ${options.storage} storage into ${outDir}:`,
    ...plan.files.map((f) => `  ${f.path}`),
    ...plan.notes.map((n) => `Note: ${n}`),
    '',
    'Next:',
    ...plan.nextCommands.map((c) => `  ${c}`),
    '',
  ];
  process.stdout.write(lines.join('\n'));
  return 0;
}
