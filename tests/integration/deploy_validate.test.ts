/**
 * `emms deploy` artifacts checked by the real tools that consume them:
 * - systemd-analyze verify (no warning at all) and `security --offline` (exposure score) for the unit;
 * - docker-compose config (Debian's 1.29) for the compose file, reading its generated .env;
 * - promtool check config for the Prometheus scrape configuration;
 * - the Kubernetes manifests: YAML parse, then the JSON Schemas of deploy_k8s_schemas.ts (ajv),
 *   plus the cross-references a schema cannot see (selectors, volumes, secret keys, probes);
 * - main.json through the server's own config loader.
 * No container runtime builds the image here (no network, no base image); see the admin guide.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse, parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { run as deploy } from '../../src/cli/deploy_command.js';
import { loadConfig } from '../../src/config/config.js';
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
        expect(emms.environment.EMMS_POSTGRES_URL).toContain(password);
        expect(statSync(join(dir, '.env')).mode & 0o777).toBe(0o600);
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
          expect(byKind('HorizontalPodAutoscaler')[0].spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: workload[0].metadata.name });
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
        expect(container.livenessProbe.httpGet.path).toBe('/health/live');
        expect(container.readinessProbe.httpGet.path).toBe('/health/ready');
        const configMap = byKind('ConfigMap').find((c) => c.metadata.name === 'emms-config');
        expect(JSON.parse(configMap.data['main.json']).storage.type).toBe(storage);
      });
    }
  }
});

describe('main.json', () => {
  it('loads with the server\'s own config loader for sqlite; redis is refused by this build, as the warning says', async () => {
    const sqlite = await generate(['--mode', 'production', '--infrastructure', 'systemd', '--storage', 'sqlite', '--auto-tune']);
    const config = loadConfig({ configPath: join(sqlite, 'main.json'), env: {} });
    expect(config).toMatchObject({ host: '0.0.0.0', storage: { type: 'sqlite', durability: 'full', path: '/var/lib/emms/metrics.db' }, logLevel: 'info' });
    const redis = await generate(['--mode', 'production', '--infrastructure', 'docker', '--storage', 'redis']);
    expect(() => loadConfig({ configPath: join(redis, 'main.json'), env: {} })).toThrow(/storage\.type.*redis.*sqlite/);
  });
});
