/**
 * `emms deploy` in-process: option parsing and its errors, which files each combination
 * writes, auto-tune figures, the warning for back-ends this build does not serve, the
 * non-empty-directory refusal, and the printed next commands. The artifacts themselves are
 * checked by the real tools in tests/integration/deploy_validate.test.ts.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/deploy_command.js';
import { autoTune } from '../../src/deploy/auto_tune.js';
import { checkDeployOptions, DeployOptionError, integerOption, isUnservedStorage, oneOfOption, type DeployOptions } from '../../src/deploy/deploy_options.js';
import { planDeployment } from '../../src/deploy/deploy_plan.js';

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
    const stateless = filesOf({ infrastructure: 'kubernetes', storage: 'redis', enableGrafana: true });
    expect(stateless).toEqual(expect.arrayContaining(['kubernetes/deployment.yaml', 'kubernetes/hpa.yaml', 'kubernetes/grafana-datasource.yaml']));
    expect(stateless).not.toContain('kubernetes/statefulset.yaml');
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

  it('warns that redis and postgresql are not served by this build, and not for sqlite', () => {
    expect(planDeployment(base, paths).warnings).toEqual([]);
    for (const storage of ['redis', 'postgresql'] as const) {
      expect(isUnservedStorage(storage)).toBe(true);
      expect(planDeployment({ ...base, storage }, paths).warnings[0]).toMatch(new RegExp(`storage ${storage}: this EMMS build serves only sqlite.*issue 15`));
    }
    expect(planDeployment({ ...base, storage: 'redis', infrastructure: 'kubernetes' }, paths).warnings).toHaveLength(2);
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
    expect(forced.stderr).toMatch(/warning: storage redis: this EMMS build serves only sqlite/);
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
