/**
 * Line protocol against a real `emms serve`, sent with curl the way Telegraf's outputs send:
 * `outputs.influxdb` posts `/write?db=telegraf` (text/plain, nanosecond timestamps, gzip when
 * content_encoding = "gzip"); `outputs.influxdb_v2` posts `/api/v2/write?bucket=…&org=…`
 * gzip-compressed by default, with `Authorization: Token <token>`. EMMS takes an API key as
 * `Bearer <key>` or, on these two routes only, as `Token <key>` (outputs.influxdb_v2's `token`
 * setting), into the key's tenant. The server decodes in one decode worker, as it does by default.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, tempDir, type ServerProcess } from './server_harness.js';

const run = promisify(execFile);
let server: ServerProcess;
let tmp: ReturnType<typeof tempDir>;
let writer: string;
const NOW_NS = BigInt(Date.now() - 60_000) * 1_000_000n;

/** What Telegraf's influx serializer writes for a few of its inputs: tags sorted, escapes, i/u/bool/string fields. */
const TELEGRAF_BATCH = [
  `cpu,cpu=cpu-total,host=web\\ 1 usage_user=12.5,usage_system=3.25,usage_idle=84.25 ${NOW_NS}`,
  `mem,host=web\\ 1 used=8589934592i,available_percent=61.5,huge=18446744073709551615u ${NOW_NS}`,
  `system,host=web\\ 1 load1=0.42,n_cpus=2i,uptime=3600u,uptime_format="1:00" ${NOW_NS}`,
  `net,host=web\\ 1,interface=eth0,path=C:\\\\x\\,y\\=z up=true,drop_in=0i ${NOW_NS + 1_000_000_000n}`,
  '',
].join('\n');

async function curl(args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const { stdout } = await run('curl', ['-sS', '-D', '-', '-o', join(tmp.dir, 'body'), '-w', '\n%{http_code}', ...args]);
  const lines = stdout.trimEnd().split('\n');
  const status = Number(lines.pop());
  const { readFileSync } = await import('node:fs');
  return { status, headers: lines.join('\n').toLowerCase(), body: readFileSync(join(tmp.dir, 'body'), 'utf8') };
}

async function stored(pattern: string): Promise<Array<{ metric_id: string; tags: Record<string, string>; points: number[][] }>> {
  const r = await fetch(`${server.base}/api/v1/query?${new URLSearchParams({ metric_pattern: pattern, start_time: new Date(Date.now() - 3_600_000).toISOString() })}`, {
    headers: { ...server.auth, 'x-emms-tenant': 'telegraf' },
  });
  expect(r.status).toBe(200);
  return ((await r.json()) as { series: Array<{ metric_id: string; tags: Record<string, string>; points: number[][] }> }).series;
}

beforeAll(async () => {
  tmp = tempDir('emms-lp-telegraf-');
  server = await startServer(['--data', tmp.dir], { EMMS_DECODE_THREADS: '1' });
  const r = await fetch(`${server.base}/api/v1/auth/keys`, {
    method: 'POST', headers: { ...server.auth, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'telegraf', tenant: 'telegraf', role: 'writer' }),
  });
  expect(r.status).toBe(201);
  writer = ((await r.json()) as { token: string }).token;
  writeFileSync(join(tmp.dir, 'batch.lp'), TELEGRAF_BATCH);
  writeFileSync(join(tmp.dir, 'batch.lp.gz'), gzipSync(TELEGRAF_BATCH));
}, 60_000);

afterAll(async () => {
  server?.proc.kill('SIGTERM');
  await server?.exited;
  tmp?.remove();
});

describe('Telegraf-style line protocol over curl', () => {
  it('outputs.influxdb: POST /write?db=telegraf, plain and gzip', async () => {
    const common = ['-X', 'POST', '-H', `Authorization: Bearer ${writer}`, '-H', 'Content-Type: text/plain; charset=utf-8', '-H', 'User-Agent: Telegraf/1.26.0 Go/1.20'];
    const plain = await curl([...common, '--data-binary', `@${join(tmp.dir, 'batch.lp')}`, `${server.base}/write?db=telegraf&rp=autogen`]);
    expect(plain.status).toBe(204);
    expect(plain.headers).toContain('x-emms-points-accepted: 11');
    expect(plain.headers).toContain('x-emms-skipped-string-fields: 1');
    const gz = await curl([...common, '-H', 'Content-Encoding: gzip', '--data-binary', `@${join(tmp.dir, 'batch.lp.gz')}`, `${server.base}/write?db=telegraf`]);
    expect(gz.status).toBe(204);
    const cpu = await stored('cpu.usage_user');
    expect(cpu).toHaveLength(1);
    expect(cpu[0]!.tags).toEqual({ cpu: 'cpu-total', host: 'web 1' });
    // The same batch twice: both writes are stored (the engine keeps duplicates of a timestamp or not; it has the value).
    expect(cpu[0]!.points[0]).toEqual([Number(NOW_NS / 1_000_000n), 12.5]);
    const net = await stored('net.up');
    expect(net[0]!.tags).toEqual({ host: 'web 1', interface: 'eth0', path: 'C:\\x,y=z' });
    expect(net[0]!.points[0]![1]).toBe(1);
    expect((await stored('mem.huge'))[0]!.points[0]![1]).toBe(18446744073709551615);
    expect(await stored('system.uptime_format')).toEqual([]);
  });

  it('outputs.influxdb_v2: POST /api/v2/write?bucket=&org=, gzip, every precision', async () => {
    const common = ['-X', 'POST', '-H', `Authorization: Token ${writer}`, '-H', 'Content-Encoding: gzip', '-H', 'Content-Type: text/plain; charset=utf-8'];
    const seconds = Math.floor(Date.now() / 1000) - 30;
    const cases: Array<[string, string]> = [['s', `${seconds}`], ['ms', `${seconds}001`], ['us', `${seconds}002000`], ['ns', `${seconds}003000000`]];
    for (const [precision, ts] of cases) {
      writeFileSync(join(tmp.dir, 'p.gz'), gzipSync(`precision,p=${precision} v=1 ${ts}\n`));
      const r = await curl([...common, '--data-binary', `@${join(tmp.dir, 'p.gz')}`, `${server.base}/api/v2/write?org=acme&bucket=telegraf&precision=${precision}`]);
      expect(r.status, r.body).toBe(204);
    }
    const got = (await stored('precision.v')).map((s) => [s.tags.p, s.points[0]![0]]).sort();
    expect(got).toEqual([['ms', seconds * 1000 + 1], ['ns', seconds * 1000 + 3], ['s', seconds * 1000], ['us', seconds * 1000 + 2]]);
  });

  it('a bad line is a 400 naming line and column, and nothing of the request is stored', async () => {
    writeFileSync(join(tmp.dir, 'bad.lp'), `badreq v=1 ${NOW_NS}\nbadreq v=2 ${NOW_NS}\nbadreq v=1x ${NOW_NS}\n`);
    const r = await curl(['-X', 'POST', '-H', `Authorization: Bearer ${writer}`, '--data-binary', `@${join(tmp.dir, 'bad.lp')}`, `${server.base}/write?db=telegraf`]);
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body) as { error: string; line: number; column: number; code: string };
    expect(body).toMatchObject({ line: 3, column: 10, code: 'invalid' });
    expect(body.error).toMatch(/^line 3, column 10: field "v"=1x is not a number/);
    expect(await stored('badreq.*')).toEqual([]);
  });

  it('needs a writer: no credentials is 401', async () => {
    const r = await curl(['-X', 'POST', '--data-binary', 'x v=1', `${server.base}/api/v2/write?bucket=b`]);
    expect(r.status).toBe(401);
  });

  it('takes `Token <key>` on the line-protocol routes only; a bad token is still 401', async () => {
    const v1 = await curl(['-X', 'POST', '-H', `Authorization: token ${writer}`, '--data-binary', `tokv1 v=1 ${NOW_NS}`, `${server.base}/write?db=telegraf`]);
    expect(v1.status, v1.body).toBe(204);
    expect((await stored('tokv1.v'))[0]!.points[0]).toEqual([Number(NOW_NS / 1_000_000n), 1]);
    const bad = await curl(['-X', 'POST', '-H', 'Authorization: Token emms_not_a_key', '--data-binary', 'x v=1', `${server.base}/api/v2/write?bucket=b`]);
    expect(bad.status).toBe(401);
    const elsewhere = await curl(['-H', `Authorization: Token ${writer}`, `${server.base}/api/v1/query?metric_pattern=tokv1.v&start_time=now-1h`]);
    expect(elsewhere.status).toBe(401);
  });
});
