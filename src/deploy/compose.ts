/**
 * Docker Compose: EMMS (built from the source tree with the generated Dockerfile), its storage
 * back-end when that is a server (Redis, PostgreSQL), Prometheus scraping EMMS's /metrics, and
 * Grafana provisioned with data sources: EMMS's Prometheus-compatible API (`/prometheus`, with
 * a reader token from `.env`) and, when enabled, the Prometheus of this file.
 *
 * Secrets (the PostgreSQL password, Grafana's admin password, the Grafana reader token) live in
 * `.env` (mode 0600), which compose reads by itself; the compose file only references them.
 * EMMS gets its back-end's URL in the variable the server reads (storageUrlEnv), with the
 * PostgreSQL password interpolated from `.env`.
 */
import { stringify } from 'yaml';
import { serverCommand } from './dockerfile.js';
import type { DeployOptions } from './deploy_options.js';
import type { Tuning } from './auto_tune.js';
import { CONFIG_FILE, DATA_DIR, HEALTH_READY_PATH, PROMETHEUS_API_PATH, REDIS_DURABLE_ARGS, storageUrlEnv } from './emms_settings.js';

export const REDIS_IMAGE = 'redis:7-bookworm';
export const POSTGRES_IMAGE = 'postgres:15-bookworm';
export const PROMETHEUS_IMAGE = 'prom/prometheus:v2.53.0';
export const GRAFANA_IMAGE = 'grafana/grafana:11.1.0';

/**
 * YAML 1.1 quoting: docker-compose (PyYAML) and Go's yaml.v2 read a bare `yes`, `on` or `0700`
 * as a boolean or an octal number, so strings that look like those are written quoted.
 */
export const YAML_OPTIONS = { lineWidth: 0, version: '1.1' } as const;
/**
 * File format 2.4: the newest that both Debian's docker-compose 1.29 and Compose v2 accept
 * with `depends_on: {condition: service_healthy}`, `mem_limit` and `cpus` (the 3.x formats
 * moved those under swarm's `deploy:`, and 1.29 rejects the spec's top-level `name`).
 */
const COMPOSE_FILE_VERSION = '2.4';

/**
 * `build.context`: the source tree as seen from the output directory; `build.dockerfile`: the
 * generated Dockerfile as seen from the source tree (compose resolves it against the context).
 */
export function renderCompose(o: DeployOptions, tuning: Tuning | undefined, build: { context: string; dockerfile: string }): string {
  const urlEnv = storageUrlEnv(o);
  const emmsEnv: Record<string, string> = { LOG_LEVEL: o.mode === 'production' ? 'info' : 'debug' };
  if (o.storage === 'redis') emmsEnv[urlEnv!.name] = 'redis://redis:6379/0';
  if (o.storage === 'postgresql') emmsEnv[urlEnv!.name] = 'postgresql://emms:${EMMS_POSTGRES_PASSWORD}@postgres:5432/emms';
  const dependsOn: Record<string, { condition: string }> = {};
  const services: Record<string, unknown> = {};
  services.emms = {
    build,
    image: o.image,
    command: serverCommand(tuning, true),
    environment: emmsEnv,
    ports: [`${o.mode === 'production' ? '' : '127.0.0.1:'}${o.port}:${o.port}`],
    volumes: ['emms-data:' + DATA_DIR, `./main.json:${CONFIG_FILE}:ro`],
    restart: 'unless-stopped',
    stop_grace_period: '15s',
    read_only: true,
    tmpfs: ['/tmp'],
    security_opt: ['no-new-privileges:true'],
    cap_drop: ['ALL'],
    healthcheck: {
      test: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${o.port}${HEALTH_READY_PATH}').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
      interval: '15s', timeout: '3s', retries: 3, start_period: '60s',
    },
    ...(tuning === undefined ? {} : { mem_limit: `${tuning.memoryLimitMiB}m`, cpus: tuning.cpuLimitMilli / 1000 }),
  };
  const volumes: Record<string, unknown> = { 'emms-data': {} };
  if (o.storage === 'redis') {
    services.redis = {
      image: REDIS_IMAGE, command: ['redis-server', ...REDIS_DURABLE_ARGS], volumes: ['redis-data:/data'], restart: 'unless-stopped',
      healthcheck: { test: ['CMD', 'redis-cli', 'ping'], interval: '10s', timeout: '3s', retries: 5 },
    };
    volumes['redis-data'] = {};
    dependsOn.redis = { condition: 'service_healthy' };
  }
  if (o.storage === 'postgresql') {
    services.postgres = {
      image: POSTGRES_IMAGE,
      environment: { POSTGRES_USER: 'emms', POSTGRES_DB: 'emms', POSTGRES_PASSWORD: '${EMMS_POSTGRES_PASSWORD}' },
      volumes: ['postgres-data:/var/lib/postgresql/data'], restart: 'unless-stopped',
      healthcheck: { test: ['CMD', 'pg_isready', '-U', 'emms', '-d', 'emms'], interval: '10s', timeout: '3s', retries: 5 },
    };
    volumes['postgres-data'] = {};
    dependsOn.postgres = { condition: 'service_healthy' };
  }
  if (Object.keys(dependsOn).length > 0) (services.emms as Record<string, unknown>).depends_on = dependsOn;
  if (o.enablePrometheus) {
    services.prometheus = {
      image: PROMETHEUS_IMAGE,
      command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=15d'],
      volumes: ['./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro', 'prometheus-data:/prometheus'],
      ports: ['127.0.0.1:9090:9090'], restart: 'unless-stopped', depends_on: ['emms'],
    };
    volumes['prometheus-data'] = {};
  }
  if (o.enableGrafana) {
    services.grafana = {
      image: GRAFANA_IMAGE,
      environment: { GF_SECURITY_ADMIN_PASSWORD: '${GRAFANA_ADMIN_PASSWORD}', GF_USERS_ALLOW_SIGN_UP: 'false', EMMS_GRAFANA_TOKEN: '${EMMS_GRAFANA_TOKEN}' },
      volumes: ['./grafana/provisioning:/etc/grafana/provisioning:ro', 'grafana-data:/var/lib/grafana'],
      ports: ['127.0.0.1:3000:3000'], restart: 'unless-stopped', depends_on: ['emms'],
    };
    volumes['grafana-data'] = {};
  }
  return `# Generated by \`emms deploy\` (${o.mode}, storage ${o.storage}). Secrets come from .env next to this file.\n${stringify({ version: COMPOSE_FILE_VERSION, services, volumes }, YAML_OPTIONS)}`;
}

export function renderPrometheusConfig(o: DeployOptions, emmsTarget: string): string {
  return `# Generated by \`emms deploy\`: Prometheus scrapes EMMS's own metrics (GET /metrics, open by default).\n${stringify({
    global: { scrape_interval: '15s', evaluation_interval: '15s' },
    scrape_configs: [{ job_name: 'emms', metrics_path: '/metrics', static_configs: [{ targets: [emmsTarget], labels: { mode: o.mode } }] }],
  }, YAML_OPTIONS)}`;
}

/**
 * Grafana data sources. EMMS's `/prometheus` API is Prometheus-compatible and needs a reader
 * token (sent as a header; Grafana expands $EMMS_GRAFANA_TOKEN from its environment).
 */
export function renderGrafanaDatasources(o: DeployOptions, emmsUrl: string, prometheusUrl: string | undefined): string {
  const datasources: unknown[] = [{
    name: 'EMMS', uid: 'emms', type: 'prometheus', access: 'proxy', url: `${emmsUrl}${PROMETHEUS_API_PATH}`, isDefault: true, editable: false,
    jsonData: { httpMethod: 'POST', httpHeaderName1: 'Authorization', timeInterval: '15s' },
    secureJsonData: { httpHeaderValue1: 'Bearer $EMMS_GRAFANA_TOKEN' },
  }];
  if (prometheusUrl !== undefined) {
    datasources.push({ name: 'Prometheus (EMMS self-monitoring)', uid: 'prometheus', type: 'prometheus', access: 'proxy', url: prometheusUrl, editable: false });
  }
  return `# Generated by \`emms deploy\` (${o.mode}).\n${stringify({ apiVersion: 1, datasources }, YAML_OPTIONS)}`;
}
