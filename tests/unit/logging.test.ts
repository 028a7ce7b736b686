/**
 * src/logging/: pino JSON lines with level names, the `log(level, message, fields?)` adapter,
 * live level changes, redaction of secret fields by path and of secrets inside messages (each
 * secret fed through and searched for in the output), pretty output, and the request event.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger, logFunction, LOG_REDACT_PATHS, wantsPrettyOutput, type LogLevelName } from '../../src/logging/logger.js';
import { logAnsweredRequest, requestIdFor, requestLogFields } from '../../src/logging/request_log.js';
import { MAX_MESSAGE_CHARS, redactSecretsInText } from '../../src/logging/secret_text.js';
import { makeLogger } from '../../src/cli/serve_command.js';

/** A logger whose lines land in `lines` (parsed) and `text` (raw). */
function collecting(level: LogLevelName = 'debug') {
  const raw: string[] = [];
  const logger = createLogger({ level, destination: { write: (s: string) => { raw.push(s); } } });
  return { logger, log: logFunction(logger), raw, lines: () => raw.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInRlbmFudCI6InBheSJ9.c2lnbmF0dXJlLWJ5dGVzLWhlcmU';
const API_TOKEN = `emms_${'Q'.repeat(20)}${'z_-'.repeat(7)}A2`;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('createLogger / logFunction', () => {
  it('writes one JSON object per line with the level name, ISO time, service and message', () => {
    const c = collecting('info');
    c.log('info', 'listening on http://127.0.0.1:8080');
    c.log('warn', 'disk almost full', { free_bytes: 1024 });
    expect(c.raw).toHaveLength(2);
    for (const line of c.raw) expect(line.endsWith('\n') && line.indexOf('\n') === line.length - 1).toBe(true);
    const [a, b] = c.lines();
    expect(a).toMatchObject({ level: 'info', service: 'emms', msg: 'listening on http://127.0.0.1:8080' });
    expect(new Date(a!.time as string).toISOString()).toBe(a!.time);
    expect(b).toMatchObject({ level: 'warn', msg: 'disk almost full', free_bytes: 1024 });
  });

  it('drops events below the level, and follows a live level change', () => {
    const c = collecting('warn');
    c.log('info', 'hidden');
    c.log('debug', 'hidden too');
    c.log('error', 'shown');
    c.logger.level = 'debug';
    c.log('debug', 'now shown');
    c.logger.level = 'silent';
    c.log('error', 'silent drops everything');
    expect(c.lines().map((l) => l.msg)).toEqual(['shown', 'now shown']);
  });

  it('redacts secret fields by path, at the top level and one level down', () => {
    const c = collecting();
    const secrets = ['Bearer s3cr3t-header', 'pw-hunter2', 'chan-secret-77', JWT, API_TOKEN, 'cookie-session-1', 'cs-client-9'];
    c.log('info', 'fields', {
      authorization: secrets[0], password: secrets[1],
      channel: { id: 'ops', secret: secrets[2] }, jwt: secrets[3], token: secrets[4],
      headers: { authorization: secrets[0], cookie: secrets[5], 'x-api-key': secrets[4] },
      req: { headers: { authorization: secrets[0] } }, client_secret: secrets[6],
    });
    const text = c.raw.join('');
    for (const s of secrets) expect(text).not.toContain(s);
    const [line] = c.lines();
    expect(line).toMatchObject({ authorization: '[redacted]', channel: { id: 'ops', secret: '[redacted]' }, headers: { 'x-api-key': '[redacted]' } });
    expect(LOG_REDACT_PATHS).toContain('*.password');
  });

  it('redacts secrets inside messages before they are written', () => {
    const c = collecting();
    c.log('error', `auth failed for header Authorization: Bearer ${API_TOKEN} (jwt ${JWT})`);
    c.log('warn', 'webhook https://ops:hunter2pw@hooks.example.org/x?q=1 failed; smtp password=pa55w0rd');
    c.log('info', '{"token":"tok-abc-123","name":"ok"}');
    const text = c.raw.join('');
    for (const s of [API_TOKEN, JWT, 'hunter2pw', 'pa55w0rd', 'tok-abc-123']) expect(text).not.toContain(s);
    expect(text).toContain('hooks.example.org/x');
    expect(text).toContain('\\"name\\":\\"ok\\"');
  });
});

describe('redactSecretsInText', () => {
  it('leaves ordinary messages alone', () => {
    const m = 'operator API key ak_0123456789abcdef created; its token is in /data/admin.token (mode 0600): send it as "Authorization: Bearer <token>"';
    expect(redactSecretsInText('its token is in /data/admin.token (mode 0600)')).toBe('its token is in /data/admin.token (mode 0600)');
    expect(redactSecretsInText(m)).toBe(m);
    expect(redactSecretsInText('GET /api/v1/query 200')).toBe('GET /api/v1/query 200');
  });

  it('redacts each kind: scheme credentials, key: value, JWT, API token, URL userinfo', () => {
    expect(redactSecretsInText('Basic dXNlcjpwYXNz')).toBe('Basic [redacted]');
    expect(redactSecretsInText('refresh_token=abc; x=1')).toBe('refresh_token=[redacted]; x=1');
    expect(redactSecretsInText(`got ${JWT}.`)).toBe('got [redacted].');
    expect(redactSecretsInText(`key ${API_TOKEN}`)).toBe('key [redacted]');
    expect(redactSecretsInText('see postgres://emms:pw@db:5432/emms and http://h/x@y')).toBe('see postgres://[redacted]@db:5432/emms and http://h/x@y');
    expect(redactSecretsInText('smtp_password: "p w"')).toBe('smtp_password: "[redacted] w"');
  });

  it('cuts very long messages and stays linear on hostile input', () => {
    const long = 'x'.repeat(MAX_MESSAGE_CHARS + 10);
    expect(redactSecretsInText(long)).toMatch(/… \(10 more characters\)$/);
    const hostile = 'eyJ'.repeat(200_000) + '://'.repeat(100_000);
    const started = performance.now();
    redactSecretsInText(hostile);
    // Generous bound: a quadratic scan of this input would take minutes.
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('pretty output', () => {
  it('is chosen on a terminal unless EMMS_LOG_FORMAT says otherwise', () => {
    expect(wantsPrettyOutput({}, true)).toBe(true);
    expect(wantsPrettyOutput({}, false)).toBe(false);
    expect(wantsPrettyOutput({ EMMS_LOG_FORMAT: 'json' }, true)).toBe(false);
    expect(wantsPrettyOutput({ EMMS_LOG_FORMAT: ' Pretty ' }, false)).toBe(true);
  });

  it('writes coloured human lines to stderr, still redacted', async () => {
    let out = '';
    vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stderr.write);
    const logger = createLogger({ level: 'info', pretty: true });
    logFunction(logger)('info', `hello pretty, password=zz-secret-zz`, { token: 'yy-secret-yy' });
    await expect.poll(() => out).toContain('hello pretty');
    expect(out).not.toContain('{"level"');
    expect(out).not.toContain('zz-secret-zz');
    expect(out).not.toContain('yy-secret-yy');
  });

  it('makeLogger (emms serve) writes JSON to stderr when it is not a terminal, and sets the level live', () => {
    let out = '';
    vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: string | Uint8Array) => {
      out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
      return true;
    }) as typeof process.stderr.write);
    const { log, setLevel } = makeLogger('info', {}, false);
    log('debug', 'not yet');
    setLevel('debug');
    log('debug', 'now');
    expect(out.trim().split('\n').map((l) => JSON.parse(l).msg)).toEqual(['now']);
  });
});

describe('request log', () => {
  it('keeps a plain client request id and replaces anything else', () => {
    expect(requestIdFor('trace-42.a:b_c')).toBe('trace-42.a:b_c');
    for (const bad of [undefined, '', 'x'.repeat(129), 'a b', 'id\n{"level":"error"}', 'ü']) {
      expect(requestIdFor(bad)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });

  it('logs one event with id, route, status, latency, tenant; 5xx at error', () => {
    const c = collecting('info');
    const r = { requestId: 'r1', method: 'GET', route: '/api/v1/keys/:key_id', status: 200, latencyMs: 1.23456, tenant: 'pay', remoteAddress: '10.0.0.1' };
    logAnsweredRequest(c.log, r);
    logAnsweredRequest(c.log, { ...r, status: 503, tenant: undefined, remoteAddress: undefined });
    const [ok, failed] = c.lines();
    expect(ok).toMatchObject({ level: 'info', msg: 'GET /api/v1/keys/:key_id 200', request_id: 'r1', route: '/api/v1/keys/:key_id', status: 200, latency_ms: 1.235, tenant: 'pay', remote_address: '10.0.0.1' });
    expect(failed).toMatchObject({ level: 'error', status: 503 });
    expect(failed).not.toHaveProperty('tenant');
    expect(requestLogFields(r)).not.toHaveProperty('path');
    logAnsweredRequest(c.log, { ...r, route: '/health/ready', status: 200 });
    logAnsweredRequest(c.log, { ...r, route: '/health/ready', status: 503 });
    c.logger.level = 'debug';
    logAnsweredRequest(c.log, { ...r, route: '/health/live', status: 200 });
    expect(c.lines().slice(2).map((l) => [l.level, l.status])).toEqual([['warn', 503], ['debug', 200]]);
  });
});
