/**
 * `emms deploy` in-process: option parsing and its errors, which files each combination
 * writes, auto-tune figures, the notes for shared back-ends (standbys, keys per node, Redis
 * durability), the standby-tolerant liveness probe run against real listeners, the
 * non-empty-directory refusal, and the printed next commands. The artifacts themselves are
 * checked by the real tools in tests/integration/deploy_validate.test.ts.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/deploy_command.js';
import { autoTune } from '../../src/deploy/auto_tune.js';
import { checkDeployOptions, DeployOptionError, integerOption, isSharedStorage, oneOfOption, type DeployOptions } from '../../src/deploy/deploy_options.js';
import { planDeployment } from '../../src/deploy/deploy_plan.js';
import { standbyTolerantLivenessScript } from '../../src/deploy/kubernetes.js';

const root = mkdtempSync(join(tmpdir(), 'emms-deploy-unit-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

async function deploy(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  for (const stream of ['stdout', 'stderr'] as const) {
    vi.spyOn(process[stream], 'write').mockImplementation(((chunk: string | Uint8Array) => {
      out[stream] += String(chunk);
      return true;
    }) as typeof process.stdout.write);
  }
  const code = await run(args);
  vi.restoreAllMocks();
  return { code, ...out };
}

const base: DeployOptions = {
  mode: 'production', infrastructure: 'docker', storage: 'sqlite', enablePrometheus: false, enableGrafana: false, autoTune: false,
  target: { cpus: 2, memoryMiB: 2048 }, image: 'emms:local', port: 8080, installDir: '/opt/emms', nodePath: '/usr/bin/node',
};
const paths = { output: 'out', sourceFromOutput: '..', outputFromSource: 'out' };
const filesOf = (o: Partial<DeployOptions>) => planDeployment({ ...base, ...o }, paths).files.map((f) => f.path).sort();

describe('planDeployment', () => {
  it('writes what each infrastructure needs', () => {
    expect(filesOf({})).toEqual(['.env', 'Dockerfile', 'Dockerfile.dockerignore', 'docker-compose.yml', 'main.json']);
    expect(filesOf({ enablePrometheus: true, enableGrafana: true })).toEqual(expect.arrayContaining(['prometheus/prometheus.yml', 'grafana/provisioning/datasources/emms.yml']));
    expect(filesOf({ infrastructure: 'systemd' })).toEqual(['emms.service', 'main.json']);
    expect(filesOf({ infrastructure: 'systemd', enablePrometheus: true, enableGrafana: true })).toEqual(['emms.service', 'grafana/provisioning/datasources/emms.yml', 'main.json', 'prometheus/emms-scrape.yml']);
    const k8s = filesOf({ infrastructure: 'kubernetes' });
    expect(k8s).toEqual(expect.arrayContaining(['Dockerfile', 'kubernetes/statefulset.yaml', 'kubernetes/service-headless.yaml', 'kubernetes/pdb.yaml', 'kubernetes/pvc-backups.yaml', 'kubernetes/kustomization.yaml']));
    expect(k8s).not.toContain('kubernetes/hpa.yaml');
    const shared = filesOf({ infrastructure: 'kubernetes', storage: 'redis', enableGrafana: true });
    expect(shared).toEqual(expect.arrayContaining(['kubernetes/deployment.yaml', 'kubernetes/grafana-datasource.yaml']));
    // More replicas of a shared store are more forwarders to one writer (no HPA); a budget only
    // where there is a second pod to keep (production runs a standby).
    for (const absent of ['kubernetes/statefulset.yaml', 'kubernetes/hpa.yaml']) expect(shared).not.toContain(absent);
    expect(shared).toContain('kubernetes/pdb.yaml');
    expect(filesOf({ infrastructure: 'kubernetes', storage: 'redis', mode: 'development' })).not.toContain('kubernetes/pdb.yaml');
  });

  it('keeps secrets out of shared files: .env is 0600 and holds generated values; compose only references them', () => {
    const plan = planDeployment({ ...base, storage: 'postgresql', enableGrafana: true }, paths);
    const env = plan.files.find((f) => f.path === '.env')!;
    expect(env.mode).toBe(0o600);
    const password = /EMMS_POSTGRES_PASSWORD=(\S+)/.exec(env.content)![1]!;
    expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const compose = plan.files.find((f) => f.path === 'docker-compose.yml')!.content;
    expect(compose).not.toContain(password);
    expect(compose).toContain('${EMMS_POSTGRES_PASSWORD}');
    expect(planDeployment({ ...base, storage: 'postgresql' }, paths).files.find((f) => f.path === '.env')!.content).not.toContain(password);
  });

  it('has no warning for any back-end; notes standbys, keys per node and Redis durability for shared ones', () => {
    expect(isSharedStorage('sqlite')).toBe(false);
    expect(planDeployment(base, paths).notes).toEqual([]);
    for (const infrastructure of ['docker', 'kubernetes', 'systemd'] as const) {
      for (const storage of ['redis', 'postgresql'] as const) {
        expect(isSharedStorage(storage)).toBe(true);
        const plan = planDeployment({ ...base, infrastructure, storage }, paths);
        expect(plan.warnings).toEqual([]);
        const notes = plan.notes.join('\n');
        expect(notes).toContain(storage === 'redis' ? 'METRICS_REDIS_URL' : 'METRICS_POSTGRES_URL');
        expect(notes).toMatch(/one writes at a time; the others wait as standbys/);
        expect(notes).toMatch(/API keys, alert rules and state.*shared state log.*secrets\.key, which is NOT shared/);
        expect(notes).not.toMatch(/issue 15|serves only sqlite/);
        expect(notes).toMatch(/set METRICS_TRUSTED_PROXIES on every node/);
        if (storage === 'redis') expect(notes).toContain('--appendonly yes --appendfsync always');
        if (infrastructure === 'kubernetes') {
          expect(notes).toMatch(/2 replicas \(a writer and a standby\).*every Ready pod.*roll one pod at a time.*PodDisruptionBudget.*no HPA/);
          // Standbys become Ready once they forward, so a rollout completes.
          expect(plan.nextCommands.join('\n')).toContain('kubectl rollout status deployment/emms');
        }
      }
    }
  });

  it('names the URL variables the server reads in every artifact, never the old EMMS_* names', () => {
    const text = (o: Partial<DeployOptions>) => planDeployment({ ...base, ...o }, paths).files.map((f) => f.content).join('\n');
    for (const [storage, name] of [['redis', 'METRICS_REDIS_URL'], ['postgresql', 'METRICS_POSTGRES_URL']] as const) {
      for (const infrastructure of ['docker', 'kubernetes', 'systemd'] as const) {
        const all = text({ storage, infrastructure });
        expect(all, `${storage} ${infrastructure}`).toContain(name);
        expect(all).not.toMatch(/EMMS_(REDIS|POSTGRES)_URL/);
      }
      const next = planDeployment({ ...base, storage, infrastructure: 'systemd' }, paths).nextCommands.join('\n');
      expect(next).toMatch(new RegExp(`install -m 0600 /dev/null /etc/emms/storage\\.env && echo '${name}=`));
    }
    expect(text({ storage: 'redis' })).toMatch(/command:\n\s+- redis-server\n\s+- --appendonly\n\s+- "yes"\n\s+- --appendfsync\n\s+- always/);
  });

  it('development systemd listens on loopback; production on every interface with full durability', () => {
    const settings = (o: Partial<DeployOptions>) => JSON.parse(planDeployment({ ...base, ...o }, paths).files.find((f) => f.path === 'main.json')!.content);
    expect(settings({ infrastructure: 'systemd', mode: 'development' })).toMatchObject({ deployment: { host: '127.0.0.1' }, storage: { durability: 'process' }, monitoring: { log_level: 'debug' } });
    expect(settings({ infrastructure: 'systemd' })).toMatchObject({ deployment: { host: '0.0.0.0' }, storage: { durability: 'full' }, security: { auth: 'on' } });
    expect(settings({ autoTune: true })).toMatchObject({ collector: { decode_threads: 1 }, query: { max_points: expect.any(Number) } });
    const unit = planDeployment({ ...base, infrastructure: 'systemd', storage: 'postgresql', autoTune: true }, paths).files.find((f) => f.path === 'emms.service')!.content;
    expect(unit).toContain('EnvironmentFile=-/etc/emms/storage.env');
    expect(unit).not.toContain('CHANGE_ME');
    expect(unit).toContain('--max-old-space-size=819');
  });
});

describe('standbyTolerantLivenessScript (the shared-store pods\' liveness command, run by node)', () => {
  const exitCodeOf = (port: number) => new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', standbyTolerantLivenessScript(port)], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  const listening = (handler: Parameters<typeof createServer>[1]) => new Promise<Server>((resolve) => {
    const server = createServer(handler!);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
  const portOf = (server: Server) => (server.address() as { port: number }).port;
  const closed = (server: Server) => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

  it('passes a live server and a standby (nothing listening); fails an error answer and a hung listener', async () => {
    const ok = await listening((req, res) => res.writeHead(req.url === '/health/live' ? 200 : 404).end());
    const failing = await listening((_req, res) => res.writeHead(503).end());
    const hung = await listening(() => undefined);
    const gone = await listening(() => undefined);
    const standbyPort = portOf(gone);
    await closed(gone);
    try {
      const [live, standby, error, stuck] = await Promise.all([exitCodeOf(portOf(ok)), exitCodeOf(standbyPort), exitCodeOf(portOf(failing)), exitCodeOf(portOf(hung))]);
      expect({ live, standby, error, stuck }).toEqual({ live: 0, standby: 0, error: 1, stuck: 1 });
    } finally {
      await Promise.all([closed(ok), closed(failing), closed(hung)]);
    }
  }, 20_000);
});

describe('autoTune', () => {
  it('leaves one CPU to the writer, sizes the heap and batches from memory, within bounds', () => {
    expect(autoTune({ cpus: 1, memoryMiB: 512 })).toMatchObject({ decodeThreads: 0, heapMiB: 256, batchSize: 268_435, maxBodyBytes: 8 * 1024 * 1024, queryMaxPoints: 671_088, cpuLimitMilli: 1000, memoryLimitMiB: 512 });
    expect(autoTune({ cpus: 2, memoryMiB: 2048 })).toMatchObject({ decodeThreads: 1, heapMiB: 819, batchSize: 1_000_000, maxBodyBytes: 16 * 1024 * 1024 });
    expect(autoTune({ cpus: 64, memoryMiB: 262_144 })).toMatchObject({ decodeThreads: 63, heapMiB: 8192, batchSize: 1_000_000, queryMaxPoints: 10_000_000, cpuRequestMilli: 32_000, memoryRequestMiB: 196_608 });
    expect(autoTune({ cpus: 200, memoryMiB: 256 })).toMatchObject({ decodeThreads: 64, batchSize: 10_000, maxBodyBytes: 4 * 1024 * 1024, queryMaxPoints: 335_544 });
  });
});

describe('options', () => {
  it('name the option, the value and what is allowed', () => {
    expect(() => oneOfOption('mode', 'staging', ['development', 'production'])).toThrow('--mode="staging" must be one of development, production');
    expect(() => oneOfOption('mode', undefined, ['development'])).toThrow(/--mode=undefined is required/);
    expect(() => integerOption('port', '80x', 1, 65535)).toThrow(DeployOptionError);
    expect(integerOption('port', '80', 1, 65535)).toBe(80);
    expect(() => checkDeployOptions({ ...base, image: 'Bad Image' })).toThrow(/--image/);
    expect(() => checkDeployOptions({ ...base, installDir: 'relative' })).toThrow(/--install-dir/);
    expect(() => checkDeployOptions({ ...base, nodePath: 'node' })).toThrow(/--node/);
    expect(() => checkDeployOptions({ ...base, installDir: '/opt/my emms' })).toThrow(/spaces/);
  });
});

describe('emms deploy', () => {
  it('prints help; refuses bad options with exit code 2', async () => {
    expect((await deploy(['--help'])).stdout).toMatch(/^Usage: emms deploy/);
    const cases: Array<[string[], RegExp]> = [
      [['--bogus'], /unknown option "--bogus"/],
      [['--mode'], /option --mode needs a value/],
      [['--mode', 'production', '--storage', 'sqlite', '--output', 'x'], /--infrastructure=undefined is required/],
      [['--mode', 'production', '--infrastructure', 'docker', '--storage', 'sqlite'], /--output.*is required/],
      [['--setup-systemd', '--infrastructure', 'docker', '--mode', 'production', '--storage', 'sqlite', '--output', 'x'], /contradicts --setup-systemd/],
      [['--mode', 'production', '--infrastructure', 'docker', '--storage', 'sqlite', '--output', 'x', '--target-cpus', '0'], /--target-cpus="0" must be an integer/],
    ];
    for (const [args, message] of cases) {
      const r = await deploy(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it('writes the files, prints them, the notes and the next commands', async () => {
    const out = join(root, 'k8s');
    const r = await deploy(['--mode=production', '--infrastructure=kubernetes', '--storage=sqlite', '--auto-tune', '--target-cpus=4', '--target-memory-mib=4096', `--output=${out}`, '--image', 'registry.example.org/emms:1.0', '--port', '9000']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Wrote \d+ files for production on kubernetes with sqlite storage/);
    expect(r.stdout).toContain('Note: auto-tuned for 4 CPUs and 4096 MiB: decode_threads=3');
    expect(r.stdout).toContain(`kubectl apply -k ${out}/kubernetes`);
    expect(r.stdout).toContain('kubectl exec emms-0 -- cat /var/lib/emms/admin.token');
    const sts = readFileSync(join(out, 'kubernetes', 'statefulset.yaml'), 'utf8');
    expect(sts).toContain('image: registry.example.org/emms:1.0');
    expect(sts).toContain('containerPort: 9000');
    expect(readFileSync(join(out, 'Dockerfile'), 'utf8')).toContain('FROM node:20-bookworm-slim');
  });

  it('refuses a non-empty directory unless --force, and --setup-systemd means systemd', async () => {
    const out = join(root, 'busy');
    mkdirSync(out);
    writeFileSync(join(out, 'keep.txt'), 'x');
    const args = ['--setup-systemd', '--mode', 'development', '--storage', 'redis', '--output', out];
    const refused = await deploy(args);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/is not empty.*--force/);
    const forced = await deploy([...args, '--force']);
    expect(forced.code).toBe(0);
    expect(forced.stderr).not.toMatch(/warning/);
    expect(forced.stdout).toMatch(/Note: storage redis: the URL goes in METRICS_REDIS_URL/);
    expect(forced.stdout).toContain('sudo systemctl enable --now emms');
    expect(readFileSync(join(out, 'keep.txt'), 'utf8')).toBe('x');
    expect(statSync(join(out, 'emms.service')).mode & 0o777).toBe(0o644);
  });

  it('reports a directory it cannot write with exit code 1', async () => {
    const file = join(root, 'a-file');
    writeFileSync(file, '');
    const r = await deploy(['--mode', 'production', '--infrastructure', 'systemd', '--storage', 'sqlite', '--output', join(file, 'sub')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/writing .* failed/);
  });

  it('docker: the next commands start compose, check readiness and create Grafana\'s reader key', async () => {
    const out = join(root, 'compose');
    const r = await deploy(['--mode', 'development', '--infrastructure', 'docker', '--storage', 'postgresql', '--enable-grafana', '--output', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`cd ${out} && docker-compose up -d --build`);
    expect(r.stdout).toContain('/health/ready');
    expect(r.stdout).toContain('"role":"reader"');
  });
});
