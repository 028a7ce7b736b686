/**
 * The answer to a state change waits for the shared state log (src/app/shared_state_answers.ts),
 * through real back-ends: a test-owned PostgreSQL and Redis (killed and restarted here, so
 * this file owns them), real SQLite files and a real StateReplicator.
 *
 * - When a mutating route's answer resolves, its row is readable in the log from another
 *   connection, although the replicator's periodic upload is a minute away (the wait uploaded it).
 * - A route that changed nothing, and a GET, answer without waiting, even with the log down.
 * - Log down: the answer is the documented 503 (committed locally, the log named with its
 *   password redacted, the handler's own answer carried), within the bound, no hang; the
 *   stream frame wrapper refuses with the same explanation. Log back: the change is uploaded
 *   without any further request.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PostgresInstance } from './postgres_instance.js';
import { startRedis, type RedisInstance } from './redis_instance.js';
import { waitFor } from './cluster_failover_node.js';
import { answerOnceShared, frameOnceShared } from '../../src/app/shared_state_answers.js';
import { HttpError, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../../src/http/route.js';
import { PostgresStateLog } from '../../src/storage/postgres/postgres_state_log.js';
import { RedisStateLog } from '../../src/storage/redis/redis_state_log.js';
import { START, type StateLog } from '../../src/storage/state_replication/state_log.js';
import { StateReplicator } from '../../src/storage/state_replication/state_replicator.js';

let pgServer: PostgresInstance;
let redisServer: RedisInstance;
let spaceSeq = 0;
const dirs: string[] = [];
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  [pgServer, redisServer] = await Promise.all([startPostgres(), startRedis()]);
}, 120_000);
afterAll(async () => {
  for (const c of closers.reverse()) await c().catch(() => undefined);
  await Promise.all([pgServer?.stop(), redisServer?.stop()]);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}, 60_000);

interface Node {
  store: Database.Database;
  replicator: StateReplicator;
  /** The routes, each answer waiting at most `timeoutMs` for the log. */
  routes(timeoutMs: number): Record<'create' | 'query' | 'read', RouteDefinition>;
  errors: Error[];
}

function openNode(log: StateLog, uploadIntervalMs: number): Node {
  const dir = mkdtempSync(join(tmpdir(), 'emms-shared-answer-'));
  dirs.push(dir);
  const store = new Database(join(dir, 'auth.db'));
  store.pragma('journal_mode = WAL');
  store.exec('CREATE TABLE api_keys (id TEXT PRIMARY KEY, name TEXT NOT NULL)');
  const errors: Error[] = [];
  const replicator = StateReplicator.open({
    log, databases: [{ name: 'auth.db', db: new Database(join(dir, 'auth.db')) }], onError: (e) => errors.push(e),
    uploadIntervalMs, tailIntervalMs: uploadIntervalMs,
  });
  closers.push(() => replicator.close());
  replicator.start();
  const plain: RouteDefinition[] = [
    {
      method: 'POST', pattern: '/keys', access: 'admin',
      handler: (req) => {
        const { id } = req.body as { id: string };
        store.prepare('INSERT INTO api_keys (id, name) VALUES (?, ?)').run(id, `key ${id}`);
        return { status: 201, headers: { 'cache-control': 'no-store' }, body: { id, token: `token-of-${id}` } };
      },
    },
    { method: 'POST', pattern: '/query', access: 'reader', handler: () => ({ body: { rows: store.prepare('SELECT count(*) AS n FROM api_keys').get() } }) },
    { method: 'GET', pattern: '/keys', access: 'reader', handler: () => ({ body: store.prepare('SELECT id FROM api_keys ORDER BY id').all() }) },
  ];
  const routes = (timeoutMs: number): Record<'create' | 'query' | 'read', RouteDefinition> => {
    const [create, query, read] = answerOnceShared(plain, replicator, timeoutMs);
    return { create: create!, query: query!, read: read! };
  };
  return { store, replicator, routes, errors };
}

const request = (body?: unknown): HttpRequest => ({ method: 'POST', path: '/', params: {}, query: new URLSearchParams(), headers: {}, body, remoteAddress: '127.0.0.1', principal: undefined });
const call = (route: RouteDefinition, body?: unknown): Promise<HttpResponseSpec> => Promise.resolve(route.handler(request(body)));

/** The api_keys ids the log holds (its latest entry per row, deletions left out). */
async function idsInLog(log: StateLog): Promise<string[]> {
  const entries = await log.readAfter(START, 1000);
  return entries
    .map((e) => JSON.parse(e.change) as { t: string; k: string[]; r: unknown })
    .filter((c) => c.t === 'api_keys' && c.r !== null)
    .map((c) => c.k[0]!)
    .sort();
}

const backends: Array<[string, (space: string) => Promise<StateLog>, () => { kill(): Promise<void>; restart(): Promise<void> }]> = [
  ['postgresql', (space) => PostgresStateLog.open({ url: pgServer.url, schema: space, statementTimeoutMs: 5_000 }), () => pgServer],
  ['redis', (space) => RedisStateLog.open({ url: redisServer.url, prefix: `${space}:` }), () => redisServer],
];

describe.each(backends)('answers to state changes through %s', (label, openLog, server) => {
  const space = (): string => `answer${process.pid}_${++spaceSeq}`;

  it('answers a change only once its row is readable in the shared log', async () => {
    const name = space();
    // The periodic upload a minute away: only the answer's own wait can have put the row there.
    const node = openNode(await openLog(name), 60_000);
    const routes = node.routes(30_000);
    const reader = await openLog(name);
    closers.push(() => reader.close());
    for (const id of ['k1', 'k2', 'k3']) {
      const answer = await call(routes.create, { id });
      expect(answer).toEqual({ status: 201, headers: { 'cache-control': 'no-store' }, body: { id, token: `token-of-${id}` } });
      expect(await idsInLog(reader)).toContain(id);
    }
    expect(await idsInLog(reader)).toEqual(['k1', 'k2', 'k3']);
    expect(node.replicator.status().outboxRows).toBe(0);
    expect(node.errors).toEqual([]);
  }, 60_000);

  it('with the log down: 503 naming the log, the change kept and uploaded once the log is back', async () => {
    const name = space();
    const node = openNode(await openLog(name), 50);
    // Generous while the log is up (a loaded machine), short while it is down.
    const [routes, outage] = [node.routes(30_000), node.routes(1_000)];
    const reader = await openLog(name);
    closers.push(() => reader.close());
    expect((await call(routes.create, { id: 'before' })).status).toBe(201);

    await server().kill();
    try {
      // Nothing changed: answered as usual, the log not needed.
      expect(await call(outage.query)).toEqual({ body: { rows: { n: 1 } } });
      expect(await call(outage.read)).toEqual({ body: [{ id: 'before' }] });

      const answer = await call(outage.create, { id: 'during' });
      expect(answer.status).toBe(503);
      const body = answer.body as { error: string; committed_locally: boolean; answer: unknown };
      expect(body.committed_locally).toBe(true);
      // The handler's own answer (a created key's token) comes with it: the key exists on this node.
      expect(body.answer).toEqual({ status: 201, body: { id: 'during', token: 'token-of-during' } });
      expect(answer.headers).toEqual({ 'cache-control': 'no-store' }); // the token is still not cached
      expect(body.error).toMatch(/the change is committed on this node but was not in the shared state log \((postgresql|redis) .*\) within 1000 ms/);
      expect(body.error).toMatch(/:\*\*\*@127\.0\.0\.1/);
      expect(body.error).toMatch(/it stays in this node's outbox and is uploaded when the log answers again: do not repeat the request$/);
      expect(body.error).not.toContain(label === 'postgresql' ? new URL(pgServer.url).password : redisServer.password);
      expect(node.store.prepare('SELECT id FROM api_keys ORDER BY id').pluck().all()).toEqual(['before', 'during']);

      // A key-events frame over the stream: refused with the same explanation, never a hang.
      const frame = frameOnceShared(async () => {
        node.store.prepare('INSERT INTO api_keys (id, name) VALUES (?, ?)').run('frame', 'key frame');
        return { accepted: 1 };
      }, node.replicator, 1_000);
      const refused = await frame().then(() => undefined, (err: unknown) => err);
      expect(refused).toBeInstanceOf(HttpError);
      expect((refused as HttpError).status).toBe(503);
      expect((refused as HttpError).message).toMatch(/committed on this node.*do not send the frame again/);
    } finally {
      await server().restart();
    }
    // Back: the periodic upload takes the kept changes there without any request.
    await waitFor('the changes kept during the outage to reach the log', async () => {
      try {
        return JSON.stringify(await idsInLog(reader)) === JSON.stringify(['before', 'during', 'frame']);
      } catch {
        return false; // the reader's own connection reconnecting
      }
    }, 60_000, 100);
    await waitFor('the outbox to drain', () => node.replicator.status().outboxRows === 0, 30_000);
    // And the next change is answered normally again.
    expect((await call(routes.create, { id: 'after' })).status).toBe(201);
    expect(await idsInLog(reader)).toEqual(['after', 'before', 'during', 'frame']);
  }, 120_000);
});

describe('a node that stops while an answer waits', () => {
  it('answers 503 at once instead of waiting out the bound', async () => {
    const redis = await startRedis();
    closers.push(() => redis.stop());
    const node = openNode(await RedisStateLog.open({ url: redis.url, prefix: 'stopping:' }), 60_000);
    await redis.kill();
    const pending = call(node.routes(600_000).create, { id: 'late' });
    await node.replicator.close();
    const answer = await pending;
    expect(answer.status).toBe(503);
    expect((answer.body as { error: string }).error).toMatch(/this node stopped before it reached the shared state log \(redis .*uploaded when the node starts again on the same data directory/);
  }, 60_000);
});
