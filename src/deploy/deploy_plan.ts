/**
 * What `emms deploy` writes for one combination of options: the files (path under the output
 * directory, contents, mode), the warnings to print, and the next commands to run. Pure: the
 * command writes the files; tests read the plan directly.
 */
import { randomBytes } from 'node:crypto';
import { autoTune, type Tuning } from './auto_tune.js';
import { renderCompose, renderGrafanaDatasources, renderPrometheusConfig } from './compose.js';
import { isUnservedStorage, type DeployOptions } from './deploy_options.js';
import { renderDockerfile, renderDockerignore } from './dockerfile.js';
import { DATA_DIR, HEALTH_READY_PATH, renderMainJson, storageUrlEnv } from './emms_settings.js';
import { isStateful, kubernetesManifests, renderKustomization, renderManifest } from './kubernetes.js';
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

export function planDeployment(o: DeployOptions, paths: PlanPaths): DeployPlan {
  const tuning = o.autoTune ? autoTune(o.target) : undefined;
  const files: PlannedFile[] = [];
  const add = (path: string, content: string, mode = 0o644): void => {
    files.push({ path, content, mode });
  };
  const warnings: string[] = [];
  const notes: string[] = [];
  const next: string[] = [];
  if (isUnservedStorage(o.storage)) {
    const env = storageUrlEnv(o)!;
    warnings.push(`storage ${o.storage}: this EMMS build serves only sqlite (Redis and PostgreSQL back-ends are issue 15). `
      + `The artifacts are written for the ${o.storage} deployment shape (${env.name}, ${o.infrastructure === 'kubernetes' ? 'a stateless Deployment with an HPA' : `a ${o.storage} service`}), `
      + `but this server refuses storage.type="${o.storage}" at start-up; deploy a build with ${o.storage} support, or use --storage sqlite.`);
  }
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
      `kubectl exec ${isStateful(o) ? 'emms-0' : workload} -- cat ${DATA_DIR}/admin.token   # the operator token`,
    );
    if (!isStateful(o)) warnings.push('kubernetes with a stateless back-end: each replica bootstraps its own operator token in its emptyDir; create API keys through one replica once the shared back-end holds them (issue 15).');
  }
  if (o.infrastructure === 'systemd') {
    add(SYSTEMD_UNIT_NAME, renderSystemdUnit(o, tuning));
    next.push(
      `(cd <EMMS source tree> && npm ci && npm run build) && sudo cp -r <EMMS source tree> ${o.installDir}   # dist/, build/, node_modules/, docs/`,
      `sudo install -D -m 0644 ${paths.output}/main.json /etc/emms/main.json`,
      `sudo install -D -m 0644 ${paths.output}/${SYSTEMD_UNIT_NAME} /etc/systemd/system/${SYSTEMD_UNIT_NAME}`,
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
