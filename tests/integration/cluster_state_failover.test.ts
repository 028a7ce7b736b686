/**
 * Feature state survives a writer failover (issue 15, "key events and alert state are
 * shared"), with real `emms serve` processes on a test-owned PostgreSQL and Redis: on the
 * writer, an API key is created with the bootstrap operator token (its row is in the shared
 * log when the answer arrives), an alert rule fires, and a key is registered and its events
 * recorded; the writer is SIGKILLed right after that last answer, nothing waited for; on the
 * node that takes over, the API key authenticates, the rule is there, the firing alert is the
 * same one and does not fire again (one `firing` event in the history after further
 * evaluations), and the key's events and violation are queryable. Only the first node minted
 * an operator key (admin.token).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './server_harness.js';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { describeNode, freePorts, killNode, spawnNode, waitFor, type ClusterNode } from './cluster_failover_node.js';
import { PostgresStateLog } from '../../src/storage/postgres/postgres_state_log.js';
import { RedisStateLog } from '../../src/storage/redis/redis_state_log.js';
import { START, type StateLog } from '../../src/storage/state_replication/state_log.js';

const START_TIMEOUT_MS = 90_000;
const cleanups: Array<() => Promise<void> | void> = [];
let pgServer: PostgresInstance;
let redisServer: RedisInstance;

beforeAll(async () => {
  [pgServer, redisServer] = await Promise.all([startPostgres(), startRedis()]);
  cleanups.push(() => pgServer.stop(), () => redisServer.stop());
}, 120_000);
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
}, 120_000);

interface Answer {
  status: number;
  body: any;
}

async function call(node: ClusterNode, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${node.base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'x-emms-tenant': 'default', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // /metrics is text
  }
  return { status: res.status, body: parsed };
}

function startNode(label: string, port: number, env: Record<string, string>): { node: ClusterNode; dir: string } {
  const { dir, remove } = tempDir(`emms-state-${label}-`);
  const configPath = join(dir, 'main.json');
  // Evaluation every second, no predefined rules (the test's rule is the only one); key use
  // from outside 10/8 is a policy violation, recorded in keys.db.
  writeFileSync(configPath, JSON.stringify({ alerting: { interval_seconds: 1, predefined_rules: false }, key_policies: { allowed_networks: ['10.0.0.0/8'] } }));
  const node = spawnNode(label, port, join(dir, 'data'), configPath, env, {});
  cleanups.push(async () => {
    await killNode(node);
    remove();
  });
  return { node, dir: join(dir, 'data') };
}

const firingEvents = async (node: ClusterNode, token: string): Promise<number> => {
  const history = await call(node, token, 'GET', '/api/v1/alerts/history?rule_id=hot&limit=100');
  return (history.body.history as Array<{ event: string }>).filter((e) => e.event === 'firing').length;
};

/** Per back-end: the nodes' environment, and a reader of the same shared state log (the test's own connection). */
const backends: Array<[string, () => Record<string, string>, () => Promise<StateLog>]> = [
  [
    'postgresql',
    () => ({ METRICS_STORAGE_TYPE: 'postgresql', METRICS_POSTGRES_URL: pgServer.url, METRICS_POSTGRES_SCHEMA: `state_${process.pid}` }),
    () => PostgresStateLog.open({ url: pgServer.url, schema: `state_${process.pid}` }),
  ],
  [
    'redis',
    () => ({ METRICS_STORAGE_TYPE: 'redis', METRICS_REDIS_URL: redisServer.url, METRICS_REDIS_PREFIX: `state${process.pid}:`, METRICS_REDIS_DURABILITY: 'everysec' }),
    () => RedisStateLog.open({ url: redisServer.url, prefix: `state${process.pid}:` }),
  ],
];

/** The log entries of one row (table and first key column), as RowChange JSON. */
async function rowInLog(log: StateLog, table: string, key: string): Promise<Array<{ r: unknown }>> {
  const entries = await log.readAfter(START, 100_000);
  return entries.map((e) => JSON.parse(e.change) as { t: string; k: unknown[]; r: unknown }).filter((c) => c.t === table && c.k[0] === key);
}

describe.each(backends)('feature state across a writer failover on %s', (label, envOf, openLog) => {
  it('keeps API keys, rules, the firing alert and key events for the node that takes over', async () => {
    const env = envOf();
    const [portA, portB] = await freePorts(2);
    const a = startNode(`${label}-a`, portA!, env);
    await waitFor(`a to listen: ${describeNode(a.node)}`, () => a.node.listeningAt !== undefined || !a.node.alive(), START_TIMEOUT_MS, 50);
    expect(a.node.alive(), describeNode(a.node)).toBe(true);
    const b = startNode(`${label}-b`, portB!, env);
    await waitFor(`b to log standby: ${describeNode(b.node)}`, () => b.node.stderr().includes('standby:') || !b.node.alive(), START_TIMEOUT_MS, 50);

    // Only the first node minted the operator key; the joining node found it in the shared state.
    const operator = readFileSync(join(a.dir, 'admin.token'), 'utf8').trim();
    expect(existsSync(join(b.dir, 'admin.token'))).toBe(false);

    const created = await call(a.node, operator, 'POST', '/api/v1/auth/keys', { name: 'ci', tenant: 'default', role: 'admin' });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const token = created.body.token as string;
    // The answer came once the key's row was in the shared log: read it there, nothing waited for.
    const reader = await openLog();
    cleanups.push(() => reader.close());
    const keyRow = await rowInLog(reader, 'api_keys', created.body.key_id as string);
    expect(keyRow).toHaveLength(1);
    expect(keyRow[0]!.r).not.toBeNull();

    const rule = { rule_id: 'hot', name: 'Too hot', metric_pattern: 'state\\.temperature', threshold_value: 5, aggregation: 'last', priority: 'HIGH' };
    expect((await call(a.node, token, 'POST', '/api/v1/alerts/rules', rule)).status).toBe(201);
    const point = (value: number): unknown => ({ metrics: [{ metric_id: 'state.temperature', value, timestamp: Date.now() }] });
    expect((await call(a.node, token, 'POST', '/api/v1/metrics', point(10))).status).toBeLessThan(300);
    let fired: any;
    await waitFor('the alert to fire on a', async () => {
      fired = (await call(a.node, token, 'GET', '/api/v1/alerts?state=firing')).body.alerts?.[0];
      return fired !== undefined;
    }, 30_000, 200);

    // The alert's transition is the evaluator's (no answer waited for it): in the log within ~25 ms, waited for here.
    await waitFor('a to have uploaded the alert transition', async () => /emms_state_replication_outbox_rows 0\n/.test((await call(a.node, token, 'GET', '/metrics')).body as string), 10_000, 100);

    const key = { key_id: 'state-dek', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms' };
    expect((await call(a.node, token, 'POST', '/api/v1/keys', key)).status).toBe(201);
    const now = Date.now();
    const events = await call(a.node, token, 'POST', '/api/v1/keys/events', { events: [
      { key_id: 'state-dek', event_type: 'encrypt', count: 3, timestamp: now - 2_000, source_ip: '10.1.2.3' },
      { key_id: 'state-dek', event_type: 'unauthorized_access', timestamp: now - 1_000, actor: 'mallory', source_ip: '203.0.113.9', outcome: 'denied' },
    ] });
    expect(events.status, JSON.stringify(events.body)).toBe(200);
    // SIGKILL right after the answers: acknowledged means in the shared log (reads below are of a's local file).
    const keyBefore = (await call(a.node, token, 'GET', '/api/v1/keys/state-dek')).body;
    expect(keyBefore.operations_since_rotation).toBe(3);
    const violationsBefore = (await call(a.node, token, 'GET', '/api/v1/keys/state-dek/violations')).body;
    expect(await firingEvents(a.node, token)).toBe(1);

    a.node.proc.kill('SIGKILL');
    await a.node.exited;
    await waitFor(`b to take over: ${describeNode(b.node)}`, () => b.node.listeningAt !== undefined || !b.node.alive(), START_TIMEOUT_MS, 50);
    expect(b.node.alive(), describeNode(b.node)).toBe(true);

    // The API key created on a authenticates on b.
    expect((await call(b.node, token, 'GET', '/api/v1/auth/whoami')).status).toBe(200);
    expect((await call(b.node, 'emms_not_a_real_token', 'GET', '/api/v1/auth/whoami')).status).toBe(401);
    // The rule and the firing alert are there: the same alert, not a new one.
    expect((await call(b.node, token, 'GET', '/api/v1/alerts/rules/hot')).status).toBe(200);
    const firingOnB = (await call(b.node, token, 'GET', '/api/v1/alerts?state=firing')).body.alerts;
    expect(firingOnB.map((x: any) => [x.alert_id, x.fired_at])).toEqual([[fired.alert_id, fired.fired_at]]);
    // b evaluates the rule (the alert's value follows a new point), and it does not fire again.
    expect((await call(b.node, token, 'POST', '/api/v1/metrics', point(11))).status).toBeLessThan(300);
    await waitFor('b to evaluate the rule on the new point', async () => (await call(b.node, token, 'GET', `/api/v1/alerts/${fired.alert_id}`)).body?.value === 11, 30_000, 200);
    expect(await firingEvents(b.node, token)).toBe(1);
    // Key events: the inventory's counters and the violation a recorded.
    const { age_days: ageBefore, ...keyStateBefore } = keyBefore;
    const { age_days: ageAfter, ...keyStateAfter } = (await call(b.node, token, 'GET', '/api/v1/keys/state-dek')).body;
    expect(keyStateAfter).toEqual(keyStateBefore);
    expect(ageAfter).toBeGreaterThanOrEqual(ageBefore); // derived from the clock at each read
    expect(JSON.stringify(violationsBefore)).toMatch(/source_network/);
    expect((await call(b.node, token, 'GET', '/api/v1/keys/state-dek/violations')).body).toEqual(violationsBefore);
    const metrics = (await call(b.node, token, 'GET', '/metrics')).body as string;
    expect(metrics).toMatch(/emms_state_replication_applied_rows_total [1-9]/);
    // /health with credentials names the log (password redacted) and says b reads it to the end.
    const replication = (await call(b.node, token, 'GET', '/health')).body.components.state_replication;
    expect(replication).toMatchObject({ status: 'ok', outbox_rows: expect.any(Number), errors: expect.any(Number) });
    expect(replication.lag_seconds).toBeLessThan(10);
    expect(replication.log).toMatch(label === 'postgresql' ? /^postgresql / : /^redis /);
    expect(replication.log).toMatch(/:\*\*\*@127\.0\.0\.1/); // the test servers' passwords, redacted
    console.log(`cluster state failover (${label}): b took over ${Math.round(b.node.listeningAt! - a.node.exitedAt!)} ms after the kill`);
  }, 240_000);
});
