/**
 * JSON Schemas for the Kubernetes objects `emms deploy` writes, covering exactly the fields it
 * uses, written from the Kubernetes API reference (v1.30: core/v1, apps/v1, policy/v1,
 * autoscaling/v2). They are stricter than the API in one way (`additionalProperties: false`
 * where we write the object, so a misspelt field such as `readinesProbe` fails) and looser in
 * another (fields we never write are not described). What they do not check: defaulting,
 * admission rules, cross-object references beyond those asserted in the tests. No official
 * OpenAPI/kubeconform schema is available offline here.
 */
type Schema = Record<string, unknown>;

const str: Schema = { type: 'string', minLength: 1 };
const dnsLabel: Schema = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 };
const labels: Schema = { type: 'object', additionalProperties: { type: 'string', maxLength: 63 } };
const quantity: Schema = { type: 'string', pattern: '^[0-9]+(\\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$' };
const strict = (properties: Record<string, Schema>, required: string[] = []): Schema => ({ type: 'object', additionalProperties: false, properties, required });

const metadata = strict({ name: dnsLabel, labels, annotations: { type: 'object', additionalProperties: { type: 'string' } } }, ['name']);
const selector = strict({ matchLabels: labels }, ['matchLabels']);
const portName: Schema = { type: 'string', pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 15 };
const intOrName: Schema = { oneOf: [{ type: 'integer', minimum: 1, maximum: 65535 }, portName] };

// A probe has exactly one handler: an HTTP GET of a health path, or a command in the container.
const probe: Schema = {
  ...strict({
    httpGet: strict({ path: { type: 'string', enum: ['/health/live', '/health/ready'] }, port: intOrName }, ['path', 'port']),
    exec: strict({ command: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } } }, ['command']),
    timeoutSeconds: { type: 'integer', minimum: 1 }, periodSeconds: { type: 'integer', minimum: 1 }, failureThreshold: { type: 'integer', minimum: 1 },
  }),
  oneOf: [{ required: ['httpGet'] }, { required: ['exec'] }],
};

const resources = strict({
  requests: strict({ cpu: quantity, memory: quantity }, ['cpu', 'memory']),
  limits: strict({ cpu: quantity, memory: quantity }, ['cpu', 'memory']),
}, ['requests', 'limits']);

const container = strict({
  name: dnsLabel, image: str, imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
  command: { type: 'array', items: { type: 'string' }, minItems: 1 },
  ports: { type: 'array', items: strict({ name: portName, containerPort: { type: 'integer', minimum: 1, maximum: 65535 }, protocol: { enum: ['TCP', 'UDP', 'SCTP'] } }, ['containerPort']) },
  env: {
    type: 'array',
    items: strict({
      name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]*$' }, value: { type: 'string' },
      valueFrom: strict({ secretKeyRef: strict({ name: dnsLabel, key: str }, ['name', 'key']) }, ['secretKeyRef']),
    }, ['name']),
  },
  resources,
  securityContext: strict({
    allowPrivilegeEscalation: { const: false }, readOnlyRootFilesystem: { const: true },
    capabilities: strict({ drop: { type: 'array', items: { type: 'string' } } }),
  }, ['allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'capabilities']),
  startupProbe: probe, livenessProbe: probe, readinessProbe: probe,
  volumeMounts: { type: 'array', items: strict({ name: dnsLabel, mountPath: { type: 'string', pattern: '^/' }, readOnly: { type: 'boolean' } }, ['name', 'mountPath']) },
}, ['name', 'image', 'ports', 'resources', 'livenessProbe', 'readinessProbe', 'securityContext']);

const volume = strict({
  name: dnsLabel,
  configMap: strict({ name: dnsLabel }, ['name']),
  secret: strict({ secretName: dnsLabel, defaultMode: { type: 'integer', minimum: 0, maximum: 511 } }, ['secretName']),
  emptyDir: strict({ sizeLimit: quantity }),
  persistentVolumeClaim: strict({ claimName: dnsLabel }, ['claimName']),
}, ['name']);

const podTemplate = strict({
  metadata: strict({ labels, annotations: { type: 'object', additionalProperties: { type: 'string' } } }, ['labels']),
  spec: strict({
    terminationGracePeriodSeconds: { type: 'integer', minimum: 0 },
    automountServiceAccountToken: { type: 'boolean' },
    securityContext: strict({
      runAsNonRoot: { const: true }, runAsUser: { type: 'integer', minimum: 1 }, runAsGroup: { type: 'integer', minimum: 1 }, fsGroup: { type: 'integer' },
      seccompProfile: strict({ type: { enum: ['RuntimeDefault', 'Localhost'] } }, ['type']),
    }, ['runAsNonRoot']),
    containers: { type: 'array', items: container, minItems: 1 },
    volumes: { type: 'array', items: volume },
  }, ['containers']),
}, ['metadata', 'spec']);

const pvcSpec = strict({
  accessModes: { type: 'array', items: { enum: ['ReadWriteOnce', 'ReadOnlyMany', 'ReadWriteMany', 'ReadWriteOncePod'] }, minItems: 1 },
  resources: strict({ requests: strict({ storage: quantity }, ['storage']) }, ['requests']),
  storageClassName: str,
}, ['accessModes', 'resources']);

const servicePort = strict({ name: portName, port: { type: 'integer', minimum: 1, maximum: 65535 }, targetPort: intOrName, protocol: { enum: ['TCP', 'UDP', 'SCTP'] } }, ['port']);

const object = (apiVersion: string, kind: string, body: Record<string, Schema>, required: string[]): Schema =>
  strict({ apiVersion: { const: apiVersion }, kind: { const: kind }, metadata, ...body }, ['apiVersion', 'kind', 'metadata', ...required]);

/** Schemas by `kind`. */
export const K8S_SCHEMAS: Readonly<Record<string, Schema>> = {
  ConfigMap: object('v1', 'ConfigMap', { data: { type: 'object', additionalProperties: { type: 'string' } } }, ['data']),
  Secret: object('v1', 'Secret', { type: { const: 'Opaque' }, stringData: { type: 'object', additionalProperties: { type: 'string' } } }, ['stringData']),
  Service: object('v1', 'Service', {
    spec: strict({ type: { enum: ['ClusterIP', 'NodePort', 'LoadBalancer'] }, clusterIP: str, selector: labels, ports: { type: 'array', items: servicePort, minItems: 1 } }, ['selector', 'ports']),
  }, ['spec']),
  PersistentVolumeClaim: object('v1', 'PersistentVolumeClaim', { spec: pvcSpec }, ['spec']),
  StatefulSet: object('apps/v1', 'StatefulSet', {
    spec: strict({
      serviceName: dnsLabel, replicas: { type: 'integer', minimum: 0 }, selector, podManagementPolicy: { enum: ['OrderedReady', 'Parallel'] },
      updateStrategy: strict({ type: { enum: ['RollingUpdate', 'OnDelete'] } }, ['type']), template: podTemplate,
      volumeClaimTemplates: { type: 'array', items: strict({ metadata: strict({ name: dnsLabel, labels }, ['name']), spec: pvcSpec }, ['metadata', 'spec']) },
    }, ['serviceName', 'selector', 'template']),
  }, ['spec']),
  Deployment: object('apps/v1', 'Deployment', {
    spec: strict({
      replicas: { type: 'integer', minimum: 0 }, selector, template: podTemplate,
      strategy: strict({ type: { enum: ['RollingUpdate', 'Recreate'] }, rollingUpdate: strict({ maxUnavailable: { type: ['integer', 'string'] }, maxSurge: { type: ['integer', 'string'] } }) }, ['type']),
    }, ['selector', 'template']),
  }, ['spec']),
  PodDisruptionBudget: object('policy/v1', 'PodDisruptionBudget', {
    spec: { ...strict({ minAvailable: { type: ['integer', 'string'] }, maxUnavailable: { type: ['integer', 'string'] }, selector }, ['selector']), oneOf: [{ required: ['minAvailable'] }, { required: ['maxUnavailable'] }] },
  }, ['spec']),
  HorizontalPodAutoscaler: object('autoscaling/v2', 'HorizontalPodAutoscaler', {
    spec: strict({
      scaleTargetRef: strict({ apiVersion: str, kind: { enum: ['Deployment', 'StatefulSet'] }, name: dnsLabel }, ['kind', 'name']),
      minReplicas: { type: 'integer', minimum: 1 }, maxReplicas: { type: 'integer', minimum: 1 },
      metrics: {
        type: 'array',
        items: strict({
          type: { const: 'Resource' },
          resource: strict({ name: { enum: ['cpu', 'memory'] }, target: strict({ type: { const: 'Utilization' }, averageUtilization: { type: 'integer', minimum: 1, maximum: 100 } }, ['type']) }, ['name', 'target']),
        }, ['type', 'resource']),
      },
    }, ['scaleTargetRef', 'maxReplicas']),
  }, ['spec']),
  Kustomization: strict({ apiVersion: { const: 'kustomize.config.k8s.io/v1beta1' }, kind: { const: 'Kustomization' }, resources: { type: 'array', items: str, minItems: 1 } }, ['apiVersion', 'kind', 'resources']),
};
