/**
 * `emms serve` (src/cli/serve_command.ts) in-process: argument errors and --help exit codes,
 * --print-config, a refused configuration, and a whole start → SIGHUP → SIGTERM cycle of the
 * real app on an ephemeral port. The signals are delivered with process.emit, and process.exit
 * is stubbed (the command exits the process once stopped). tests/integration/ runs the same
 * command as a child process, where coverage cannot follow it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { run } from '../../src/cli/serve_command.js';

interface Captured {
  stdout: string;
  stderr: string;
}

/** Runs `emms serve …args` with stdout and stderr captured. */
async function serve(args: string[], during?: (out: Captured) => Promise<void>): Promise<Captured & { code: number }> {
  const out: Captured = { stdout: '', stderr: '' };
  const capture = (stream: 'stdout' | 'stderr') => vi.spyOn(process[stream], 'write').mockImplementation((chunk: string | Uint8Array) => {
    out[stream] += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
    return true;
  });
  const spies = [capture('stdout'), capture('stderr')];
  try {
    const running = run(args);
    if (during !== undefined) await during(out);
    const code = await running;
    return { ...out, code };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'emms-serve-cmd-'));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('emms serve arguments', () => {
  it('prints help and exits 0', async () => {
    const r = await serve(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: emms serve/);
    expect(r.stdout).toContain('--print-config');
    // Every back-end, its switch and the commands that start its database (issue 15).
    for (const text of ['METRICS_STORAGE_TYPE', 'METRICS_POSTGRES_URL', 'METRICS_REDIS_URL, REDIS_URL', 'apt-get install postgresql', 'initdb', 'pg_ctl', 'apt-get install redis-server', '--appendonly yes --appendfsync always']) {
      expect(r.stdout).toContain(text);
    }
    expect(r.stdout).toMatch(/^ {2}sqlite {6}The default/m);
    expect(r.stdout).toMatch(/^ {2}postgresql {2}A PostgreSQL database/m);
    expect(r.stdout).toMatch(/^ {2}redis {7}A Redis server/m);
  });

  it('refuses an unknown option and a flag without its value with exit code 2, naming them', async () => {
    const unknown = await serve(['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('emms serve: unknown option "--bogus"; see emms serve --help\n');
    const missing = await serve(['--port']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe('emms serve: option --port needs a value; see emms serve --help\n');
  });

  it('prints the effective settings, flags included, as a main.json', async () => {
    const r = await serve(['--print-config', '--port=0', '--host', '127.0.0.1', '--data', dir]);
    expect(r.code).toBe(0);
    const file = JSON.parse(r.stdout) as { deployment: { host: string; port: number } };
    expect(file.deployment).toMatchObject({ host: '127.0.0.1', port: 0 });
  });

  it('refuses a bad setting with exit code 2, naming it and its value', async () => {
    const flag = await serve(['--port', 'eighty', '--data', dir]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/^emms serve: .*port.*eighty/);
    const config = join(dir, 'bad.json');
    writeFileSync(config, JSON.stringify({ query: { max_points: -5 } }));
    const file = await serve(['--config', config, '--data', dir]);
    expect(file.code).toBe(2);
    expect(file.stderr).toMatch(/max_points.*-5/);
  });

  it('exits 1 naming the failure when the app cannot start', async () => {
    const notADir = join(dir, 'plain-file');
    writeFileSync(notADir, 'x');
    const r = await serve(['--port', '0', '--data', notADir]);
    expect(r.code).toBe(1);
    // The data directory is a file: the error names its path.
    expect(r.stderr.split('\n').filter((l) => l.startsWith('emms serve: ') && l.includes(notADir))).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});

describe('emms serve running', () => {
  it('listens, answers, reloads nothing on SIGHUP without a config file or TLS, and stops with exit code 0 on SIGTERM', async () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((() => undefined) as never);
    const signalsBefore = { SIGHUP: process.listeners('SIGHUP'), SIGINT: process.listeners('SIGINT') };
    const r = await serve(['--port', '0', '--host', '127.0.0.1', '--data', join(dir, 'data')], async (out) => {
      await expect.poll(() => out.stdout, { timeout: 20_000 }).toMatch(/^EMMS listening on http:\/\/127\.0\.0\.1:\d+ \(data .+\)\n$/);
      const port = Number(/:(\d+) /.exec(out.stdout)![1]);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      process.emit('SIGHUP');
      await expect.poll(() => out.stderr).toContain('SIGHUP: no config file (--config or ./main.json); only the TLS files are re-read');
      await expect.poll(() => out.stderr).toContain('SIGHUP: configuration re-read; nothing changed');
      process.emit('SIGTERM');
    });
    try {
      expect(r.code).toBe(0);
      // JSON lines (stderr is not a terminal here): src/logging/logger.ts.
      expect(r.stderr).toMatch(/"level":"info".*"msg":"SIGTERM: stopping"/);
      expect(r.stderr).toMatch(/"level":"info".*"msg":"stopped"/);
      // The exit comes a moment later, so worker pools do not hold the process open.
      await expect.poll(() => exit.mock.calls).toEqual([[0]]);
    } finally {
      for (const signal of ['SIGHUP', 'SIGINT'] as const) {
        for (const l of process.listeners(signal)) if (!signalsBefore[signal].includes(l)) process.removeListener(signal, l);
      }
    }
  });
});
