/**
 * Kubernetes manifests, one object per file plus a kustomization.yaml (`kubectl apply -k`).
 *
 * SQLite keeps its data in one file with one writer: a StatefulSet of exactly one replica with
 * a volumeClaimTemplate, a headless Service for its stable name, and no autoscaler (a second
 * replica would be a second, separate database). Redis and PostgreSQL hold the data outside
 * the pod, so EMMS runs as a Deployment with an emptyDir; but a shared store has one writing
 * node at a time (src/cluster/writer_lease.ts): in production the second replica is a standby
 * that forwards every request to the writer while it waits (src/server/standby/standby_forwarder.ts),
 * then takes over when the writer dies. Consequences:
 * - readiness (/health/ready) passes on the standby while the writer it forwards to answers
 *   its own readiness, so the Service sends traffic to both pods; during a take-over neither
 *   is ready for the replay's duration. Liveness must not kill a node whose port is briefly
 *   without a listener (the few milliseconds between the standby's listener closing and the
 *   server's binding, or a writer still replaying): standbyTolerantLiveness;
 * - rolling updates (one surge pod, none unavailable): a new pod starts as a standby, becomes
 *   Ready once it forwards to the writer, and only then is an old pod stopped; when that was the
 *   writer, a standby takes the lease within its bound while clients retry the 503s of the gap.
 *   Recreate would stop every pod first, a whole outage per update;
 * - with two or more replicas a PodDisruptionBudget keeps one available through node drains
 *   (with one replica a budget could only block drains, so there is none);
 * - no HorizontalPodAutoscaler: more replicas are more forwarders to the one writer, not more
 *   write capacity;
 * - the kubectl plan waits for one available replica rather than `kubectl rollout status`.
 *
 * Every pod: non-root fixed UID, read-only root filesystem, no capabilities, RuntimeDefault
 * seccomp; readiness on /health/ready; SQLite's pod has liveness on /health/live and a startup
 * probe that gives the write-ahead replay time before liveness counts.
 */
import { stringify } from 'yaml';
import { YAML_OPTIONS } from './compose.js';
import { serverCommand } from './dockerfile.js';
import { DEFAULT_POD_RESOURCES, type Tuning } from './auto_tune.js';
import { isSharedStorage, type DeployOptions } from './deploy_options.js';
import { CONFIG_DIR, DATA_DIR, EMMS_UID, HEALTH_LIVE_PATH, HEALTH_READY_PATH, PROMETHEUS_API_PATH, SECRETS_DIR, renderMainJson, storageUrlEnv } from './emms_settings.js';

const NAME = 'emms';
const LABELS = { 'app.kubernetes.io/name': NAME, 'app.kubernetes.io/component': 'server' };
/** Shutdown takes at most 9.5 s (serve_command.ts SHUTDOWN_DEADLINE_MS); the kubelet waits longer. */
const TERMINATION_GRACE_SECONDS = 20;

export interface Manifest {
  /** File name under kubernetes/. */
  file: string;
  object: Record<string, unknown>;
}

function metadata(name: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, labels: { ...LABELS }, ...extra };
}

export function isStateful(o: DeployOptions): boolean {
  return !isSharedStorage(o.storage);
}

/** Replicas of the Deployment of a shared store: the writer, plus a standby in production. */
export function sharedStoreReplicas(o: DeployOptions): number {
  return o.mode === 'production' ? 2 : 1;
}

/**
 * Liveness of a node on a shared store, run in the container (`node` is the image's runtime):
 * healthy when /health/live answers 2xx, and also when nothing listens on the port, because a
 * node handing its port from the standby forwarder to the server has no listener for a moment
 * (a standby whose forwarder could not bind has none at all), and restarting it would only
 * restart the wait. What fails: a listening server that answers an error or not within 2.5 s
 * (hung). A node whose process died is restarted by the kubelet without any probe.
 */
export function standbyTolerantLivenessScript(port: number): string {
  return `fetch('http://127.0.0.1:${port}${HEALTH_LIVE_PATH}', { signal: AbortSignal.timeout(2500) })`
    + `.then((r) => process.exit(r.ok ? 0 : 1), (e) => process.exit(e && e.cause && e.cause.code === 'ECONNREFUSED' ? 0 : 1))`;
}

function resources(tuning: Tuning | undefined): Record<string, unknown> {
  const r = tuning ?? DEFAULT_POD_RESOURCES;
  return {
    requests: { cpu: `${r.cpuRequestMilli}m`, memory: `${r.memoryRequestMiB}Mi` },
    limits: { cpu: `${r.cpuLimitMilli}m`, memory: `${r.memoryLimitMiB}Mi` },
  };
}

function podTemplate(o: DeployOptions, tuning: Tuning | undefined): Record<string, unknown> {
  const urlEnv = storageUrlEnv(o);
  const env: unknown[] = [{ name: 'LOG_LEVEL', value: o.mode === 'production' ? 'info' : 'debug' }];
  if (urlEnv !== undefined) env.push({ name: urlEnv.name, valueFrom: { secretKeyRef: { name: `${NAME}-secrets`, key: 'storage-url' } } });
  const probe = (path: string, extra: Record<string, unknown>) => ({ httpGet: { path, port: 'http' }, timeoutSeconds: 3, ...extra });
  const annotations = o.enablePrometheus ? { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(o.port), 'prometheus.io/path': '/metrics' } : undefined;
  return {
    metadata: { labels: { ...LABELS }, ...(annotations === undefined ? {} : { annotations }) },
    spec: {
      terminationGracePeriodSeconds: TERMINATION_GRACE_SECONDS,
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: EMMS_UID, runAsGroup: EMMS_UID, fsGroup: EMMS_UID, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{
        name: NAME,
        image: o.image,
        imagePullPolicy: 'IfNotPresent',
        command: serverCommand(tuning, true),
        ports: [{ name: 'http', containerPort: o.port, protocol: 'TCP' }],
        env,
        resources: resources(tuning),
        securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
        ...(isStateful(o)
          ? {
            startupProbe: probe(HEALTH_LIVE_PATH, { periodSeconds: 5, failureThreshold: 60 }),
            livenessProbe: probe(HEALTH_LIVE_PATH, { periodSeconds: 10, failureThreshold: 3 }),
          }
          // No startup probe: the liveness below already passes while the node waits or replays.
          : { livenessProbe: { exec: { command: ['node', '-e', standbyTolerantLivenessScript(o.port)] }, timeoutSeconds: 5, periodSeconds: 15, failureThreshold: 3 } }),
        readinessProbe: probe(HEALTH_READY_PATH, { periodSeconds: 5, failureThreshold: 2 }),
        volumeMounts: [
          { name: 'data', mountPath: DATA_DIR },
          { name: 'config', mountPath: CONFIG_DIR, readOnly: true },
          { name: 'secrets', mountPath: SECRETS_DIR, readOnly: true },
          { name: 'tmp', mountPath: '/tmp' },
        ],
      }],
      volumes: [
        { name: 'config', configMap: { name: `${NAME}-config` } },
        { name: 'secrets', secret: { secretName: `${NAME}-secrets`, defaultMode: 0o400 } },
        { name: 'tmp', emptyDir: { sizeLimit: '64Mi' } },
        // Stateless back-ends: the pod's data directory holds only the operator token and caches.
        ...(isStateful(o) ? [] : [{ name: 'data', emptyDir: { sizeLimit: '1Gi' } }]),
      ],
    },
  };
}

export function kubernetesManifests(o: DeployOptions, tuning: Tuning | undefined): Manifest[] {
  const selector = { matchLabels: { ...LABELS } };
  const urlEnv = storageUrlEnv(o);
  const out: Manifest[] = [
    { file: 'configmap.yaml', object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: metadata(`${NAME}-config`), data: { 'main.json': renderMainJson(o, tuning) } } },
    {
      file: 'secret.yaml',
      object: {
        apiVersion: 'v1', kind: 'Secret', metadata: metadata(`${NAME}-secrets`), type: 'Opaque',
        // Placeholders: replace before applying (or manage with your secret store). Mounted read-only
        // at /etc/emms/secrets; main.json names files there (e.g. alerting.smtp_servers.*.password_file).
        stringData: {
          'smtp-password': 'CHANGE_ME',
          ...(urlEnv === undefined ? {} : { 'storage-url': urlEnv.example }),
        },
      },
    },
    {
      file: 'service.yaml',
      object: {
        apiVersion: 'v1', kind: 'Service', metadata: metadata(NAME),
        spec: { type: 'ClusterIP', selector: { ...LABELS }, ports: [{ name: 'http', port: o.port, targetPort: 'http', protocol: 'TCP' }] },
      },
    },
    {
      file: 'pvc-backups.yaml',
      object: {
        apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: metadata(`${NAME}-backups`),
        spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '20Gi' } } },
      },
    },
  ];
  if (isStateful(o)) {
    out.push({
      file: 'service-headless.yaml',
      object: {
        apiVersion: 'v1', kind: 'Service', metadata: metadata(`${NAME}-headless`),
        spec: { clusterIP: 'None', selector: { ...LABELS }, ports: [{ name: 'http', port: o.port, targetPort: 'http', protocol: 'TCP' }] },
      },
    });
    out.push({
      file: 'statefulset.yaml',
      object: {
        apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: metadata(NAME),
        spec: {
          serviceName: `${NAME}-headless`,
          // One writer per SQLite file: never more than one replica.
          replicas: 1,
          selector,
          podManagementPolicy: 'OrderedReady',
          updateStrategy: { type: 'RollingUpdate' },
          template: podTemplate(o, tuning),
          volumeClaimTemplates: [{
            metadata: { name: 'data', labels: { ...LABELS } },
            spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: o.mode === 'production' ? '50Gi' : '5Gi' } } },
          }],
        },
      },
    });
    // A single replica cannot stay available through a drain; this budget lets drains proceed
    // (the pod restarts with its volume, clients retry) rather than blocking them forever.
    out.push({ file: 'pdb.yaml', object: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: metadata(NAME), spec: { maxUnavailable: 1, selector } } });
  } else {
    out.push({
      file: 'deployment.yaml',
      object: {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: metadata(NAME),
        spec: {
          // One writer; in production one standby that takes over when the writer dies.
          replicas: sharedStoreReplicas(o), selector,
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
          template: podTemplate(o, tuning),
        },
      },
    });
    if (sharedStoreReplicas(o) > 1) {
      out.push({ file: 'pdb.yaml', object: { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: metadata(NAME), spec: { minAvailable: 1, selector } } });
    }
  }
  if (o.enableGrafana) {
    out.push({
      file: 'grafana-datasource.yaml',
      object: {
        apiVersion: 'v1', kind: 'ConfigMap',
        // The label the Grafana Helm chart's sidecar watches for data source files.
        metadata: metadata(`${NAME}-grafana-datasource`, { labels: { ...LABELS, grafana_datasource: '1' } }),
        data: {
          'emms.yaml': stringify({
            apiVersion: 1,
            datasources: [{
              name: 'EMMS', uid: 'emms', type: 'prometheus', access: 'proxy', url: `http://${NAME}:${o.port}${PROMETHEUS_API_PATH}`, editable: false,
              jsonData: { httpMethod: 'POST', httpHeaderName1: 'Authorization' }, secureJsonData: { httpHeaderValue1: 'Bearer $EMMS_GRAFANA_TOKEN' },
            }],
          }, YAML_OPTIONS),
        },
      },
    });
  }
  return out;
}

export function renderManifest(m: Manifest, o: DeployOptions): string {
  return `# Generated by \`emms deploy\` (${o.mode}, storage ${o.storage}).\n${stringify(m.object, YAML_OPTIONS)}`;
}

export function renderKustomization(manifests: readonly Manifest[]): string {
  return `# kubectl apply -k <this directory>\n${stringify({ apiVersion: 'kustomize.config.k8s.io/v1beta1', kind: 'Kustomization', resources: manifests.map((m) => m.file) }, YAML_OPTIONS)}`;
}
