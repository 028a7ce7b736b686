import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AUDIT_KEY_FILE, AUDIT_LOG_FILE, AuditLog, AuditLogError } from '../../src/audit/audit_log.js';
import { AuditOffsetIndex, queryAuditLog } from '../../src/audit/audit_query.js';
import { chainHash, GENESIS_HASH, parseAuditLine, type AuditEvent } from '../../src/audit/audit_record.js';
import { auditRoutes } from '../../src/audit/audit_routes.js';
import { AuditTrail } from '../../src/audit/audit_trail.js';
import { verifyAuditLog } from '../../src/audit/audit_verify.js';
import { runApikeyCommand } from '../../src/cli/apikey_command.js';
import { run as runAuditCommand } from '../../src/cli/audit_command.js';
import { callRoute, principal } from './route_test_kit.js';

const KEY = Buffer.alloc(32, 7);
let dir: string;
let path: string;

function event(i: number, tenant = 'acme'): AuditEvent {
  return { actor: `ak_${i}`, tenant, source: '10.0.0.1', requestId: `req-${i}`, action: 'POST /api/v1/alerts/rules', target: `rule_id=r${i}`, outcome: 'ok' };
}

function writeLog(count: number, opts: { checkpointEvery?: number; tenantOf?: (i: number) => string; now?: () => number; before?: (i: number) => void } = {}): void {
  const log = AuditLog.open({ path, checkpointKey: KEY, checkpointEvery: opts.checkpointEvery ?? 4, ...(opts.now ? { now: opts.now } : {}) });
  for (let i = 1; i <= count; i++) {
    opts.before?.(i);
    log.append(event(i, opts.tenantOf?.(i) ?? 'acme'));
  }
  log.close();
}

function lines(): string[] {
  return readFileSync(path, 'utf8').trimEnd().split('\n');
}

function io() {
  const out = { stdout: '', stderr: '' };
  return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-audit-'));
  path = join(dir, AUDIT_LOG_FILE);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('audit log chain', () => {
  it('verifies a log written in pieces, with checkpoints every few records and at close', () => {
    writeLog(10);
    writeLog(3);
    const result = verifyAuditLog(path, KEY);
    expect(result).toMatchObject({ ok: true, records: 13, unanchoredRecords: 0 });
    // 10 records with a checkpoint every 4: after 4 and 8, and at close; then 3 and one at close.
    expect(result.ok && result.checkpoints).toBe(4);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('names an altered record', () => {
    writeLog(10);
    const all = lines();
    all[5] = all[5]!.replace('"outcome":"ok"', '"outcome":"denied"');
    writeFileSync(path, all.join('\n') + '\n');
    const result = verifyAuditLog(path, KEY);
    expect(result).toMatchObject({ ok: false, line: 6 });
    expect(!result.ok && result.problem).toMatch(/record 6 does not match its hash: it was altered/);
  });

  it('names a removed record', () => {
    writeLog(10);
    const all = lines();
    all.splice(2, 1);
    writeFileSync(path, all.join('\n') + '\n');
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, line: 3, seq: 4, problem: 'record 4 follows record 2: 1 record(s) before it were removed' });
  });

  it('names moved records', () => {
    writeLog(10);
    const all = lines();
    [all[1], all[2]] = [all[2]!, all[1]!];
    writeFileSync(path, all.join('\n') + '\n');
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, line: 2, seq: 3 });
  });

  it('catches a consistent rewrite of the chain through the checkpoint MAC, which needs the key', () => {
    writeLog(3, { checkpointEvery: 100 });
    // Rewrite record 2 and recompute every hash after it, as someone with the file but not the key could.
    const all = lines().map((l, i) => parseAuditLine(l, i + 1));
    const rewritten: string[] = [];
    let previous = GENESIS_HASH;
    for (const [i, l] of all.entries()) {
      const json = i === 1 ? l.json.replace('"actor":"ak_2"', '"actor":"ak_9"') : l.json;
      const hash = chainHash(previous, json);
      rewritten.push(`${hash} ${json}`);
      previous = hash;
    }
    writeFileSync(path, rewritten.join('\n') + '\n');
    expect(verifyAuditLog(path, undefined)).toMatchObject({ ok: true, records: 3 });
    const result = verifyAuditLog(path, KEY);
    expect(result).toMatchObject({ ok: false, line: 4, seq: 4 });
    expect(!result.ok && result.problem).toMatch(/checkpoint 4 does not match the records before it/);
  });

  it('says how many records only the chain protects', () => {
    const log = AuditLog.open({ path, checkpointKey: KEY, checkpointEvery: 100 });
    log.append(event(1));
    log.checkpoint();
    log.append(event(2));
    log.append(event(3));
    log.flush();
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: true, records: 3, checkpoints: 1, unanchoredRecords: 2 });
    log.close();
  });

  it('cuts a line torn by a power loss at the next open and records the cut', () => {
    writeLog(2);
    appendFileSync(path, 'abc{"seq":');
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, problem: expect.stringMatching(/ends without a newline \(10 bytes/) });
    writeLog(1);
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: true, records: 4 });
    const recovered = lines().map((l, i) => parseAuditLine(l, i + 1).line).find((l) => l.kind === 'event' && l.record.action === 'audit.recovered');
    expect(recovered?.kind === 'event' && recovered.record.detail).toEqual({ truncatedBytes: 10 });
  });

  it('keeps one chain when two writers (two processes) append in turn', () => {
    const a = AuditLog.open({ path, checkpointKey: KEY, checkpointEvery: 3 });
    const b = AuditLog.open({ path, checkpointKey: KEY, checkpointEvery: 3 });
    for (let i = 1; i <= 12; i++) (i % 2 === 0 ? a : b).append(event(i));
    a.close();
    b.close();
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: true, records: 12 });
  });

  it('waits for a held lock, takes over a stale one, and gives up on a live one', () => {
    const log = AuditLog.open({ path, checkpointKey: KEY, lockTimeoutMs: 30 });
    writeFileSync(`${path}.lock`, '');
    expect(() => log.append(event(1))).toThrow(AuditLogError);
    const old = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, old, old);
    log.append(event(1));
    expect(existsSync(`${path}.lock`)).toBe(false);
    log.close();
    expect(() => log.append(event(2))).toThrow(/closed/);
  });

  it('refuses a key of the wrong size and a path it cannot open', () => {
    expect(() => AuditLog.open({ path, checkpointKey: Buffer.alloc(16) })).toThrow('the audit checkpoint key must be 32 bytes; got 16');
    expect(() => AuditLog.open({ path: join(dir, 'missing', 'audit.log'), checkpointKey: KEY })).toThrow(/cannot open the audit log/);
  });

  it('names malformed lines', () => {
    writeFileSync(path, 'not a record\n');
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, line: 1, problem: expect.stringMatching(/64-digit hex hash/) });
    writeFileSync(path, `${'a'.repeat(64)} {"seq":1,"time":"x","actor":3}\n`);
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, problem: expect.stringMatching(/actor is missing or not a string/) });
    writeFileSync(path, `${'a'.repeat(64)} [1]\n`);
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, problem: expect.stringMatching(/not a JSON object/) });
    writeFileSync(path, `${'a'.repeat(64)} {"seq":0}\n`);
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, problem: expect.stringMatching(/seq=0 is not a positive integer/) });
    writeFileSync(path, `${'a'.repeat(64)} {oops\n`);
    expect(verifyAuditLog(path, KEY)).toMatchObject({ ok: false, problem: expect.stringMatching(/not JSON/) });
  });
});

describe('audit queries', () => {
  it('pages by cursor through an index, filters by tenant and time', () => {
    let clock = Date.parse('2026-01-01T00:00:00Z');
    writeLog(3000, { checkpointEvery: 500, tenantOf: (i) => (i % 3 === 0 ? 'globex' : 'acme'), now: () => clock, before: () => void (clock += 1000) });
    const index = new AuditOffsetIndex();
    const seen: number[] = [];
    let afterSeq: number | undefined = 0;
    while (afterSeq !== undefined) {
      const page = queryAuditLog(path, { tenant: 'globex', afterSeq, limit: 250 }, index);
      seen.push(...page.records.map((r) => Number(r.actor.slice(3))));
      afterSeq = page.nextAfterSeq;
    }
    expect(seen).toEqual(Array.from({ length: 1000 }, (_, k) => 3 * (k + 1)));
    const window = queryAuditLog(path, { sinceMs: Date.parse('2026-01-01T00:10:00Z'), untilMs: Date.parse('2026-01-01T00:10:10Z'), limit: 100 });
    expect(window.records).toHaveLength(10);
    const bounded = queryAuditLog(path, { tenant: 'nobody', limit: 10, maxScanLines: 100 });
    expect(bounded).toEqual({ records: [], nextAfterSeq: 100 });
  });

  it('serves pages to admins of their own tenant and to operators for any', async () => {
    const trail = AuditTrail.open({ dataDir: dir });
    for (let i = 1; i <= 5; i++) trail.record(event(i, i <= 3 ? 'acme' : 'globex'));
    const routes = auditRoutes(trail);
    const own = await callRoute(routes, principal('admin', 'acme'), 'GET', '/api/v1/audit?limit=2');
    expect(own.status).toBe(200);
    expect(own.body.records.map((r: { tenant: string }) => r.tenant)).toEqual(['acme', 'acme']);
    const next = await callRoute(routes, principal('admin', 'acme'), 'GET', `/api/v1/audit?after_seq=${own.body.next_after_seq}`);
    expect(next.body.records).toHaveLength(1);
    expect(next.body.next_after_seq).toBeUndefined();
    expect((await callRoute(routes, principal('admin', 'acme'), 'GET', '/api/v1/audit?tenant=globex')).status).toBe(403);
    expect((await callRoute(routes, principal('writer', 'acme'), 'GET', '/api/v1/audit')).status).toBe(403);
    const all = await callRoute(routes, principal('operator', '*'), 'GET', '/api/v1/audit');
    expect(all.body.records).toHaveLength(5);
    const one = await callRoute(routes, principal('operator', '*'), 'GET', '/api/v1/audit?tenant=globex&since=2000-01-01T00:00:00Z');
    expect(one.body.records).toHaveLength(2);
    expect((await callRoute(routes, principal('operator', '*'), 'GET', '/api/v1/audit?since=yesterday')).body).toMatchObject({ parameter: 'since' });
    expect((await callRoute(routes, principal('operator', '*'), 'GET', '/api/v1/audit?limit=5000')).body).toMatchObject({ parameter: 'limit' });
    expect(trail.metrics()).toContain('emms_audit_records_total 5');
    expect(trail.verify()).toMatchObject({ ok: true, records: 5 });
    trail.close();
  });

  it('makes the data directory of a fresh server', () => {
    const fresh = join(dir, 'a', 'b');
    AuditTrail.open({ dataDir: fresh }).close();
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
  });

  it('counts a record it could not write and goes on', () => {
    const errors: unknown[] = [];
    const trail = AuditTrail.open({ dataDir: dir, onError: (e) => errors.push(e) });
    trail.close();
    trail.record(event(1));
    expect(errors).toHaveLength(1);
    expect(trail.metrics()).toContain('emms_audit_write_failures_total 1');
  });
});

describe('emms audit', () => {
  it('verify says OK, then names the broken record after an edit', async () => {
    const trail = AuditTrail.open({ dataDir: dir });
    for (let i = 1; i <= 4; i++) trail.record(event(i));
    trail.close();
    const ok = io();
    expect(await runAuditCommand(['verify', '--data', dir], ok.io)).toBe(0);
    expect(ok.out.stdout).toMatch(/^OK: 4 record\(s\), 1 checkpoint\(s\), last record 5/);
    const all = lines();
    all[1] = all[1]!.replace('ak_2', 'ak_X');
    writeFileSync(path, all.join('\n') + '\n');
    const bad = io();
    expect(await runAuditCommand(['verify', '--data', dir], bad.io)).toBe(1);
    expect(bad.out.stdout).toMatch(/^BROKEN at line 2 \(record 2\): record 2 does not match its hash/);
    rmSync(join(dir, AUDIT_KEY_FILE));
    const keyless = io();
    expect(await runAuditCommand(['verify', '--data', dir], keyless.io)).toBe(1);
    expect(keyless.out.stderr).toMatch(/no checkpoint key/);
  });

  it('export writes JSON lines or CSV, filtered', async () => {
    const trail = AuditTrail.open({ dataDir: dir });
    trail.record(event(1, 'acme'));
    trail.record({ ...event(2, 'globex'), target: 'name="a,b"' });
    trail.close();
    const jsonl = io();
    expect(await runAuditCommand(['export', '--data', dir, '--tenant', 'acme'], jsonl.io)).toBe(0);
    expect(jsonl.out.stdout.trimEnd().split('\n').map((l) => JSON.parse(l).actor)).toEqual(['ak_1']);
    const csv = io();
    expect(await runAuditCommand(['export', '--data', dir, '--format', 'csv', '--since', '2000-01-01T00:00:00Z'], csv.io)).toBe(0);
    expect(csv.out.stdout.split('\n')[0]).toBe('seq,time,actor,tenant,source,requestId,action,target,outcome');
    expect(csv.out.stdout).toContain('"name=""a,b"""');
  });

  it('records API keys created and revoked by emms apikey, without checkpoints of its own', async () => {
    const made = io();
    expect(await runApikeyCommand(['create', '--data', dir, '--name', 'agent', '--role', 'writer', '--tenant', 'acme'], made.io)).toBe(0);
    const keyId = /created API key (ak_[0-9a-f]+)/.exec(made.out.stderr)![1]!;
    expect(await runApikeyCommand(['revoke', '--data', dir, keyId], io().io)).toBe(0);
    const records = queryAuditLog(path, { limit: 10 }).records;
    expect(records.map((r) => [r.action, r.target, r.tenant, r.actor.startsWith('cli:')])).toEqual([
      ['apikey.create', `key_id=${keyId} role=writer`, 'acme', true],
      ['apikey.revoke', `key_id=${keyId}`, 'acme', true],
    ]);
    expect(lines()).toHaveLength(2);
    expect(existsSync(join(dir, AUDIT_KEY_FILE))).toBe(false);
    // The server's next checkpoint covers what the command line wrote.
    const trail = AuditTrail.open({ dataDir: dir });
    trail.close();
    expect(verifyAuditLog(path, readFileSync(join(dir, AUDIT_KEY_FILE)))).toMatchObject({ ok: true, records: 2, checkpoints: 1 });
  });

  it('explains its usage errors', async () => {
    const cases: Array<[string[], number, RegExp]> = [
      [[], 2, /Usage/],
      [['verify'], 2, /--data DIR is required/],
      [['verify', '--data', dir], 1, /does not exist/],
      [['verify', '--bogus'], 2, /Unknown option/],
    ];
    for (const [argv, code, text] of cases) {
      const c = io();
      expect(await runAuditCommand(argv, c.io)).toBe(code);
      expect(c.out.stdout + c.out.stderr).toMatch(text);
    }
    AuditTrail.open({ dataDir: dir }).close();
    const fmt = io();
    expect(await runAuditCommand(['export', '--data', dir, '--format', 'xml'], fmt.io)).toBe(2);
    const since = io();
    expect(await runAuditCommand(['export', '--data', dir, '--since', 'soon'], since.io)).toBe(2);
    const unknown = io();
    expect(await runAuditCommand(['frobnicate', '--data', dir], unknown.io)).toBe(2);
    const help = io();
    expect(await runAuditCommand(['--help'], help.io)).toBe(0);
  });
});
