/**
 * What `emms deploy` writes for one combination of options: the files (path under the output
 * directory, contents, mode), the warnings to print, and the next commands to run. Pure: the
 * command writes the files; tests read the plan directly.
 */
import { randomBytes } from 'node:crypto';
import { autoTune, type Tuning } from './auto_tune.js';
import { renderCompose, renderGrafanaDatasources, renderPrometheusConfig } from './compose.js';
import { isSharedStorage, type DeployOptions } from './deploy_options.js';
import { renderDockerfile, renderDockerignore } from './dockerfile.js';
import { DATA_DIR, HEALTH_READY_PATH, REDIS_DURABLE_ARGS, hostStorageUrlExample, renderMainJson, storageUrlEnv } from './emms_settings.js';
import { isStateful, kubernetesManifests, renderKustomization, renderManifest, sharedStoreReplicas } from './kubernetes.js';
import { SYSTEMD_UNIT_NAME, renderSystemdUnit } from './systemd_unit.js';

export interface PlannedFile {
  path: string;
  content: string;
  /** File mode; secrets are 0600. */
  mode: number;
}

export interface DeployPlan {
  files: PlannedFile[];
  warnings: string[];
  /** What was decided for the user (auto-tune figures). */
  notes: string[];
  nextCommands: string[];
  tuning: Tuning | undefined;
}

export interface PlanPaths {
  /** The output directory as the user named it (shown in the next commands). */
  output: string;
  /** The EMMS source tree relative to the output directory (compose's build context). */
  sourceFromOutput: string;
  /** The output directory relative to the source tree (where `docker build -f` finds the Dockerfile). */
  outputFromSource: string;
}

/** A random secret for `.env`: 24 bytes, base64url (no characters compose would interpolate). */
function generatedSecret(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * What a user of a shared store must know: one node writes and the others are standbys; the
 * feature state is shared but secrets.key is not; Redis must fsync every write. Said once, for
 * every infrastructure.
 */
export function sharedStorageNotes(o: DeployOptions): string[] {
  const where = o.storage === 'postgresql' ? 'one PostgreSQL schema (storage.postgres.schema)' : 'one Redis prefix (storage.redis.prefix)';
  const notes = [
    `storage ${o.storage}: the URL goes in ${storageUrlEnv(o)!.name} (from a secret, never main.json). Of the EMMS nodes on ${where} one writes at a time; `
      + 'the others wait as standbys that listen and forward every request to the writer (so /health/ready passes on them while the writer answers), and one takes over when the writer dies. '
      + (o.infrastructure === 'kubernetes'
        ? `The Deployment runs ${sharedStoreReplicas(o)} ${sharedStoreReplicas(o) === 1 ? 'replica' : 'replicas (a writer and a standby)'}; the Service routes to every Ready pod; `
          + 'updates roll one pod at a time, the new one Ready (forwarding) before an old one stops'
          + (sharedStoreReplicas(o) > 1 ? ', and a PodDisruptionBudget keeps one pod through drains' : '')
          + '; there is no HPA (more replicas are more forwarders, not more write capacity).'
        : 'Point a second node at the same store for fail-over, and put both behind a load balancer that checks /health/ready.'),
    'Standbys tell the writer the client\'s address in X-Forwarded-For; the writer believes it only from security.trusted_proxies, so set METRICS_TRUSTED_PROXIES on every node to '
      + (o.infrastructure === 'kubernetes' ? 'the pod network\'s CIDR (and your ingress controller\'s)' : o.infrastructure === 'docker' ? 'the compose network\'s subnet' : 'the nodes\' and load balancers\' addresses')
      + '; without it API keys limited to client networks fail through a standby and per-address limits count the standby (README "Security").',
    'API keys, alert rules and state, key inventories and events and probe targets are shared: every node applies the shared state log in the store, so they survive a take-over. '
      + 'Only the cluster\'s first node writes admin.token, into its own data directory'
      + (o.infrastructure === 'kubernetes' ? ' (an emptyDir: copy the token out after the first start, or create a key later with `emms apikey create` in any pod)' : '')
      + '. Alert channels\' secrets are sealed with <data dir>/secrets.key, which is NOT shared: give every node the same file before its first start (README "Storage back-ends").',
  ];
  if (o.storage === 'redis') {
    notes.push(`storage redis: EMMS refuses a Redis server that does not run with ${REDIS_DURABLE_ARGS.join(' ')} (an acknowledged point must survive a killed Redis and a power loss) or whose maxmemory-policy is allkeys-*; `
      + (o.infrastructure === 'docker' ? 'the compose redis service runs so.' : 'configure the Redis you point it at so (appendonly yes, appendfsync always in redis.conf).'));
  }
  return notes;
}

/** systemd: writes the back-end's URL into the unit's EnvironmentFile, private to root. */
function storageEnvCommand(o: DeployOptions): string | undefined {
  const env = storageUrlEnv(o);
  if (env === undefined) return undefined;
  return `sudo install -m 0600 /dev/null /etc/emms/storage.env && echo '${env.name}=${hostStorageUrlExample(o)!}' | sudo tee /etc/emms/storage.env >/dev/null   # your database's URL`;
}

export function planDeployment(o: DeployOptions, paths: PlanPaths): DeployPlan {
  const tuning = o.autoTune ? autoTune(o.target) : undefined;
  const files: PlannedFile[] = [];
  const add = (path: string, content: string, mode = 0o644): void => {
    files.push({ path, content, mode });
  };
  const warnings: string[] = [];
  const notes: string[] = [];
  const next: string[] = [];
  if (isSharedStorage(o.storage)) notes.push(...sharedStorageNotes(o));
  add('main.json', renderMainJson(o, tuning));
  const dockerfile = `${paths.outputFromSource}/Dockerfile`;
  if (o.infrastructure === 'docker' || o.infrastructure === 'kubernetes') {
    add('Dockerfile', renderDockerfile(o, tuning));
    add('Dockerfile.dockerignore', renderDockerignore());
  }
  if (o.infrastructure === 'docker') {
    add('docker-compose.yml', renderCompose(o, tuning, { context: paths.sourceFromOutput, dockerfile }));
    const env = [
      '# Secrets for docker-compose.yml (generated; keep this file private).',
      ...(o.storage === 'postgresql' ? [`EMMS_POSTGRES_PASSWORD=${generatedSecret()}`] : []),
      ...(o.enableGrafana ? [`GRAFANA_ADMIN_PASSWORD=${generatedSecret()}`, '# A reader API key of EMMS for Grafana; create it after the first start (see the next commands).', 'EMMS_GRAFANA_TOKEN='] : []),
      '',
    ];
    add('.env', env.join('\n'), 0o600);
    if (o.enablePrometheus) add('prometheus/prometheus.yml', renderPrometheusConfig(o, `emms:${o.port}`));
    if (o.enableGrafana) add('grafana/provisioning/datasources/emms.yml', renderGrafanaDatasources(o, `http://emms:${o.port}`, o.enablePrometheus ? 'http://prometheus:9090' : undefined));
    next.push(
      `cd ${paths.output} && docker-compose up -d --build`,
      `curl -fsS http://127.0.0.1:${o.port}${HEALTH_READY_PATH}`,
      `docker-compose -f ${paths.output}/docker-compose.yml exec emms cat ${DATA_DIR}/admin.token   # the operator token`,
    );
    if (o.enableGrafana) {
      next.push(`curl -H "Authorization: Bearer $(docker-compose -f ${paths.output}/docker-compose.yml exec -T emms cat ${DATA_DIR}/admin.token)" -H 'content-type: application/json' -d '{"name":"grafana","tenant":"default","role":"reader"}' http://127.0.0.1:${o.port}/api/v1/auth/keys   # put its token in .env as EMMS_GRAFANA_TOKEN, then: docker-compose up -d grafana`);
    }
  }
  if (o.infrastructure === 'kubernetes') {
    const manifests = kubernetesManifests(o, tuning);
    for (const m of manifests) add(`kubernetes/${m.file}`, renderManifest(m, o));
    add('kubernetes/kustomization.yaml', renderKustomization(manifests));
    const workload = isStateful(o) ? 'statefulset/emms' : 'deployment/emms';
    next.push(
      `docker build -f ${dockerfile} -t ${o.image} .   # from the EMMS source tree; push it where the cluster pulls from`,
      `edit ${paths.output}/kubernetes/secret.yaml   # replace the CHANGE_ME placeholders`,
      `kubectl apply -k ${paths.output}/kubernetes`,
      `kubectl rollout status ${workload}`,
      ...(isStateful(o)
        ? [`kubectl exec emms-0 -- cat ${DATA_DIR}/admin.token   # the operator token`]
        : [
          `for p in $(kubectl get pods -l app.kubernetes.io/name=emms -o name); do kubectl exec "$p" -- cat ${DATA_DIR}/admin.token 2>/dev/null && break; done   # the cluster's operator token: only its first node has the file`,
        ]),
    );
  }
  if (o.infrastructure === 'systemd') {
    add(SYSTEMD_UNIT_NAME, renderSystemdUnit(o, tuning));
    next.push(
      `(cd <EMMS source tree> && npm ci && npm run build) && sudo cp -r <EMMS source tree> ${o.installDir}   # dist/, build/, node_modules/, docs/`,
      `sudo install -D -m 0644 ${paths.output}/main.json /etc/emms/main.json`,
      `sudo install -D -m 0644 ${paths.output}/${SYSTEMD_UNIT_NAME} /etc/systemd/system/${SYSTEMD_UNIT_NAME}`,
      ...(storageEnvCommand(o) === undefined ? [] : [storageEnvCommand(o)!]),
      `sudo systemd-analyze verify /etc/systemd/system/${SYSTEMD_UNIT_NAME}`,
      'sudo systemctl daemon-reload && sudo systemctl enable --now emms',
      `curl -fsS http://127.0.0.1:${o.port}${HEALTH_READY_PATH}`,
      `sudo cat ${DATA_DIR}/admin.token   # the operator token`,
      'sudo systemctl reload emms   # after editing /etc/emms/main.json: SIGHUP applies the live sections',
    );
    if (o.enablePrometheus) add('prometheus/emms-scrape.yml', renderPrometheusConfig(o, `127.0.0.1:${o.port}`));
    if (o.enableGrafana) add('grafana/provisioning/datasources/emms.yml', renderGrafanaDatasources(o, `http://127.0.0.1:${o.port}`, o.enablePrometheus ? 'http://127.0.0.1:9090' : undefined));
  }
  if (tuning !== undefined) {
    notes.push(`auto-tuned for ${o.target.cpus} CPUs and ${o.target.memoryMiB} MiB: decode_threads=${tuning.decodeThreads}, heap ${tuning.heapMiB} MiB, batch_size=${tuning.batchSize}, query.max_points=${tuning.queryMaxPoints}`);
  }
  return { files, warnings, notes, nextCommands: next, tuning };
}
