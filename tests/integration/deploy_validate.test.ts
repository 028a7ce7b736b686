/**
 * `emms deploy` artifacts checked by the real tools that consume them:
 * - systemd-analyze verify (no warning at all) and `security --offline` (exposure score) for the unit;
 * - docker-compose config (Debian's 1.29) for the compose file, reading its generated .env;
 * - promtool check config for the Prometheus scrape configuration;
 * - the Kubernetes manifests: YAML parse, then the JSON Schemas of deploy_k8s_schemas.ts (ajv),
 *   plus the cross-references a schema cannot see (selectors, volumes, secret keys, probes);
 * - main.json through the server's own config loader, with the URL environment the compose
 *   file, the Kubernetes Secret or the systemd EnvironmentFile command gives it.
 * No container runtime builds the image here (no network, no base image); see the admin guide.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as deploy } from '../../src/cli/deploy_command.js';
import { loadConfig } from '../../src/config/config.js';
import { planDeployment } from '../../src/deploy/deploy_plan.js';
import { parsePostgresLocation } from '../../src/storage/postgres/postgres_location.js';
import { K8S_SCHEMAS } from './deploy_k8s_schemas.js';

const root = mkdtempSync(join(tmpdir(), 'emms-deploy-validate-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let counter = 0;
/** Runs `emms deploy` in-process into a fresh directory; returns it. */
async function generate(args: string[]): Promise<string> {
  const out = join(root, `d${counter++}`);
  const quiet = [vi.spyOn(process.stdout, 'write').mockImplementation(() => true), vi.spyOn(process.stderr, 'write').mockImplementation(() => true)];
  try {
    expect(await deploy([...args, '--output', out])).toBe(0);
  } finally {
    for (const s of quiet) s.mockRestore();
  }
  return out;
}

function tool(cmd: string, args: string[], cwd?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 60_000 });
  if (r.error !== undefined) throw new Error(`${cmd} could not run (${r.error.message}); CI installs it (see .ci/run)`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('systemd unit', () => {
  for (const mode of ['development', 'production']) {
    it(`${mode}: systemd-analyze verify accepts it without a warning, and security scores it low`, async () => {
      // verify checks that ExecStart's binary exists: point it at this node and this tree.
      const dir = await generate(['--mode', mode, '--infrastructure', 'systemd', '--storage', 'sqlite', '--auto-tune', '--target-cpus', '2', '--target-memory-mib', '2048',
        '--node', process.execPath, '--install-dir', process.cwd(), '--enable-prometheus', '--enable-grafana']);
      const unit = join(dir, 'emms.service');
      const verify = tool('systemd-analyze', ['verify', unit]);
      expect(verify.stderr).toBe('');
      expect(verify.status).toBe(0);
      const text = readFileSync(unit, 'utf8');
      for (const line of ['DynamicUser=yes', 'ProtectSystem=strict', 'NoNewPrivileges=yes', 'StateDirectory=emms', 'ExecReload=/bin/kill -HUP $MAINPID', 'MemoryMax=2048M']) {
        expect(text).toContain(line);
      }
      const security = tool('systemd-analyze', ['security', '--offline=true', unit]);
      const score = Number(/Overall exposure level for emms\.service: ([\d.]+)/.exec(security.stdout)?.[1]);
      // 0 = fully sandboxed, 10 = not at all; systemd calls < 2 "OK". Our unit scores 1.7 (systemd 252).
      expect(score).toBeLessThan(2.5);
      const promtool = tool('promtool', ['check', 'config', join(dir, 'prometheus', 'emms-scrape.yml')]);
      expect(promtool.status, promtool.stderr + promtool.stdout).toBe(0);
    });
  }
});

describe('docker compose', () => {
  for (const storage of ['sqlite', 'redis', 'postgresql']) {
    it(`${storage}: docker-compose config accepts the file with its .env; promtool accepts prometheus.yml`, async () => {
      const dir = await generate(['--mode', 'production', '--infrastructure', 'docker', '--storage', storage, '--enable-prometheus', '--enable-grafana', '--auto-tune']);
      const r = tool('docker-compose', ['config'], dir);
      expect(r.status, r.stderr).toBe(0);
      const config = parse(r.stdout) as { services: Record<string, any>; volumes: Record<string, unknown> };
      const expected = ['emms', 'prometheus', 'grafana', ...(storage === 'redis' ? ['redis'] : []), ...(storage === 'postgresql' ? ['postgres'] : [])];
      expect(Object.keys(config.services).sort()).toEqual(expected.sort());
      const emms = config.services.emms;
      expect(emms.command).toEqual(expect.arrayContaining(['--config', '/etc/emms/main.json']));
      expect(emms.healthcheck.test.join(' ')).toContain('/health/ready');
      expect(emms.cap_drop).toEqual(['ALL']);
      if (storage !== 'sqlite') expect(Object.keys(emms.depends_on)).toContain(storage === 'redis' ? 'redis' : 'postgres');
      if (storage === 'postgresql') {
        // The generated password reached both services through .env, and the file is private.
        const password = config.services.postgres.environment.POSTGRES_PASSWORD as string;
        expect(password).toMatch(/^[A-Za-z0-9_-]{32}$/);
        expect(emms.environment.METRICS_POSTGRES_URL).toContain(password);
        expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
      }
      if (storage === 'redis') {
        // The Redis back-end refuses a server that does not fsync every write.
        expect(config.services.redis.command).toEqual(['redis-server', '--appendonly', 'yes', '--appendfsync', 'always']);
        expect(emms.environment.METRICS_REDIS_URL).toBe('redis://redis:6379/0');
      }
      const promtool = tool('promtool', ['check', 'config', join(dir, 'prometheus', 'prometheus.yml')]);
      expect(promtool.status, promtool.stderr + promtool.stdout).toBe(0);
      const grafana = parse(readFileSync(join(dir, 'grafana/provisioning/datasources/emms.yml'), 'utf8')) as { datasources: Array<{ url: string; type: string }> };
      expect(grafana.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://emms:8080/prometheus' });
    });
  }

  it('development without extras: EMMS alone, published on loopback only', async () => {
    const dir = await generate(['--mode', 'development', '--infrastructure', 'docker', '--storage', 'sqlite']);
    const r = tool('docker-compose', ['config'], dir);
    expect(r.status, r.stderr).toBe(0);
    const config = parse(r.stdout) as { services: Record<string, any> };
    expect(Object.keys(config.services)).toEqual(['emms']);
    expect(JSON.stringify(config.services.emms.ports)).toContain('127.0.0.1');
  });
});

describe('kubernetes manifests', () => {
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, strictRequired: false });
  const validators = Object.fromEntries(Object.entries(K8S_SCHEMAS).map(([kind, schema]) => [kind, ajv.compile(schema)]));

  for (const storage of ['sqlite', 'redis', 'postgresql']) {
    for (const mode of ['development', 'production']) {
      it(`${storage} ${mode}: every file parses as YAML and passes the schema of its kind; references resolve`, async () => {
        const dir = await generate(['--mode', mode, '--infrastructure', 'kubernetes', '--storage', storage, '--enable-prometheus', '--enable-grafana', '--auto-tune', '--target-cpus', '4', '--target-memory-mib', '4096']);
        const files = readdirSync(join(dir, 'kubernetes')).sort();
        const objects: any[] = [];
        for (const file of files) {
          const docs = parseAllDocuments(readFileSync(join(dir, 'kubernetes', file), 'utf8'));
          expect(docs, file).toHaveLength(1);
          expect(docs[0]!.errors, file).toEqual([]);
          const obj = docs[0]!.toJS();
          const validate = validators[obj.kind];
          expect(validate, `${file}: kind ${obj.kind} has no schema`).toBeDefined();
          expect(validate!(obj) ? [] : validate!.errors, file).toEqual([]);
          objects.push(obj);
        }
        const kustomization = objects.find((o) => o.kind === 'Kustomization');
        expect([...kustomization.resources, 'kustomization.yaml'].sort()).toEqual(files);
        const byKind = (kind: string) => objects.filter((o) => o.kind === kind);
        const workload = byKind(storage === 'sqlite' ? 'StatefulSet' : 'Deployment');
        expect(workload).toHaveLength(1);
        expect(byKind(storage === 'sqlite' ? 'Deployment' : 'StatefulSet')).toHaveLength(0);
        const spec = workload[0].spec;
        if (storage === 'sqlite') {
          expect(spec.replicas).toBe(1);
          expect(byKind('HorizontalPodAutoscaler')).toHaveLength(0);
          expect(byKind('Service').map((s) => s.metadata.name)).toContain(spec.serviceName);
        } else {
          // One writer (plus a standby in production): no autoscaler; rolling updates that never
          // drop below the replica count; a budget only where there is a second pod to keep.
          expect(spec.replicas).toBe(mode === 'production' ? 2 : 1);
          expect(spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
          expect(byKind('HorizontalPodAutoscaler')).toHaveLength(0);
          expect(byKind('PodDisruptionBudget').map((b) => b.spec.minAvailable)).toEqual(mode === 'production' ? [1] : []);
        }
        // Selectors match the pod labels; every mounted volume is declared or claimed; secrets exist.
        const podLabels = spec.template.metadata.labels;
        for (const o of [...byKind('Service'), ...byKind('PodDisruptionBudget'), workload[0]]) {
          const sel = o.spec.selector.matchLabels ?? o.spec.selector;
          for (const [k, v] of Object.entries(sel)) expect(podLabels[k], `${o.kind} selector ${k}`).toBe(v);
        }
        const container = spec.template.spec.containers[0];
        const declared = new Set([...spec.template.spec.volumes.map((v: any) => v.name), ...(spec.volumeClaimTemplates ?? []).map((v: any) => v.metadata.name)]);
        for (const m of container.volumeMounts) expect(declared.has(m.name), `volume ${m.name}`).toBe(true);
        const secret = byKind('Secret')[0];
        for (const e of container.env.filter((x: any) => x.valueFrom !== undefined)) {
          expect(e.valueFrom.secretKeyRef.name).toBe(secret.metadata.name);
          expect(Object.keys(secret.stringData)).toContain(e.valueFrom.secretKeyRef.key);
        }
        expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
        if (storage === 'sqlite') {
          expect(container.livenessProbe.httpGet.path).toBe('/health/live');
        } else {
          // A standby does not listen: its liveness is a command that tolerates that (tested in deploy.test.ts).
          expect(container.livenessProbe.exec.command.slice(0, 2)).toEqual(['node', '-e']);
          expect(container.livenessProbe.exec.command[2]).toContain(`http://127.0.0.1:${container.ports[0].containerPort}/health/live`);
          expect(container.startupProbe).toBeUndefined();
        }
        const configMap = byKind('ConfigMap').find((c) => c.metadata.name === 'emms-config');
        expect(JSON.parse(configMap.data['main.json']).storage.type).toBe(storage);
      });
    }
  }
});

describe('main.json', () => {
  it('sqlite: loads with the server\'s own config loader', async () => {
    const sqlite = await generate(['--mode', 'production', '--infrastructure', 'systemd', '--storage', 'sqlite', '--auto-tune']);
    const config = loadConfig({ configPath: join(sqlite, 'main.json'), env: {} });
    expect(config).toMatchObject({ host: '0.0.0.0', storage: { type: 'sqlite', durability: 'full', path: '/var/lib/emms/metrics.db' }, logLevel: 'info' });
  });

  for (const [storage, name, key] of [['redis', 'METRICS_REDIS_URL', 'redis'], ['postgresql', 'METRICS_POSTGRES_URL', 'postgres']] as const) {
    it(`${storage}: main.json plus the URL variable of each artifact loads with the server's own config loader; without it the error names ${name}`, async () => {
      const compose = await generate(['--mode', 'production', '--infrastructure', 'docker', '--storage', storage]);
      const mainJson = join(compose, 'main.json');
      // Without the URL the server refuses to start, naming the variable the artifacts set.
      expect(() => loadConfig({ configPath: mainJson, env: {} })).toThrow(new RegExp(`storage\\.${key}\\.url.*${name}`));

      // docker: the environment compose gives the emms service (with .env interpolated).
      const r = tool('docker-compose', ['config'], compose);
      expect(r.status, r.stderr).toBe(0);
      const composeEnv = (parse(r.stdout) as { services: Record<string, any> }).services.emms.environment as Record<string, string>;
      expect(Object.keys(composeEnv)).toContain(name);
      const fromCompose = loadConfig({ configPath: mainJson, env: composeEnv });
      expect(fromCompose.storage.type).toBe(storage);
      expect(fromCompose.storage[key].url).toBe(composeEnv[name]);
      // The back-end's own URL check (postgres_location.ts) accepts the generated scheme too.
      if (storage === 'postgresql') expect(parsePostgresLocation(fromCompose.storage.postgres.url).redacted).toMatch(/^postgresql:\/\/emms:\*\*\*@postgres:5432\/emms$/);

      // kubernetes: the Deployment's env entry names the Secret key holding the URL.
      const k8s = await generate(['--mode', 'production', '--infrastructure', 'kubernetes', '--storage', storage]);
      const deployment = parse(readFileSync(join(k8s, 'kubernetes', 'deployment.yaml'), 'utf8')) as any;
      const secret = parse(readFileSync(join(k8s, 'kubernetes', 'secret.yaml'), 'utf8')) as any;
      const configMap = parse(readFileSync(join(k8s, 'kubernetes', 'configmap.yaml'), 'utf8')) as any;
      const entry = deployment.spec.template.spec.containers[0].env.find((e: any) => e.name === name);
      expect(entry, `Deployment env ${name}`).toBeDefined();
      const k8sUrl = secret.stringData[entry.valueFrom.secretKeyRef.key] as string;
      const k8sMain = join(k8s, 'configmap-main.json');
      writeFileSync(k8sMain, configMap.data['main.json']);
      const fromK8s = loadConfig({ configPath: k8sMain, env: { [name]: k8sUrl } });
      expect(fromK8s.storage.type).toBe(storage);
      expect(fromK8s.storage[key].url).toBe(k8sUrl);

      // systemd: the unit reads /etc/emms/storage.env; the printed command writes NAME=URL there.
      const systemd = await generate(['--mode', 'production', '--infrastructure', 'systemd', '--storage', storage, '--node', process.execPath, '--install-dir', process.cwd()]);
      expect(readFileSync(join(systemd, 'emms.service'), 'utf8')).toContain('EnvironmentFile=-/etc/emms/storage.env');
      const verify = tool('systemd-analyze', ['verify', join(systemd, 'emms.service')]);
      expect(verify.stderr).toBe('');
      expect(verify.status).toBe(0);
      const plan = planDeployment({
        mode: 'production', infrastructure: 'systemd', storage, enablePrometheus: false, enableGrafana: false, autoTune: false,
        target: { cpus: 2, memoryMiB: 2048 }, image: 'emms:local', port: 8080, installDir: '/opt/emms', nodePath: '/usr/bin/node',
      }, { output: systemd, sourceFromOutput: '..', outputFromSource: systemd });
      const line = /echo '([A-Z_]+)=([^']+)'/.exec(plan.nextCommands.join('\n'));
      expect(line?.[1]).toBe(name);
      const fromSystemd = loadConfig({ configPath: join(systemd, 'main.json'), env: { [line![1]!]: line![2]! } });
      expect(fromSystemd.storage.type).toBe(storage);
      expect(fromSystemd.storage[key].url).toBe(line![2]);
    });
  }
});
