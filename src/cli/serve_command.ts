/**
 * `emms serve`: the embedded SQLite engine behind the HTTP/WebSocket front end. Prints the URL
 * it listens on (one line on stdout, `EMMS listening on http://host:port`); SIGTERM or SIGINT
 * stops accepting, lets in-flight batches commit and be acknowledged, flushes the engine and
 * exits 0 within 10 s.
 */
import { existsSync } from 'node:fs';
import { CONFIG_HELP, ConfigError, LOG_LEVELS, loadConfig, renderConfigFile, type ConfigFlags, type LogLevel } from '../config/config.js';
import { NativeUwsUnavailableError, loadNativeUws } from '../server/native_uws.js';

/**
 * V8 flag `npm start` and the `emms` command (its shebang) pass. With V8's small initial old
 * generation, its headroom stays under the young generation's capacity, and V8 starts
 * incremental marking ~4 times a second although the JS heap is ~15 MB; each finalisation
 * stalls the writer thread for 2–17 ms. With 128 MB: 7 starts in 10 s instead of 36–47, and the
 * half-rate ack p99 21–29 ms instead of 33–55 ms (bench/load/ingest_load.ts, fresh server).
 * It cannot be set at run time (v8.setFlagsFromString has no effect on it) nor in NODE_OPTIONS.
 */
const OLD_SPACE_FLAG = '--initial-old-space-size';
export const RECOMMENDED_OLD_SPACE = `${OLD_SPACE_FLAG}=128`;

/** Past this, a stuck shutdown exits non-zero rather than hanging a supervisor. */
const SHUTDOWN_DEADLINE_MS = 9_500;

function help(): string {
  return `Usage: emms serve [--host 127.0.0.1] [--port 8080] [--data ./data] [--config main.json]

Runs the EMMS server: MessagePack stream ingest on ws://HOST:PORT/api/v1/stream, and HTTP
POST /api/v1/metrics, GET|POST /api/v1/query, GET /health, GET /metrics, GET /federate?match=GLOB.

Options:
  --host HOST      address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)
  --port PORT      TCP port (default 8080; 0 picks a free one, printed at start)
  --data DIR       data directory; the database is DIR/metrics.db (default ./data)
  --config FILE    main.json settings file (default ./main.json when it exists)
  --print-config   print the effective settings (defaults, file, environment, flags) as a
                   main.json and exit; the file names secret files, never their contents
  -h, --help       show this help

Settings are read from built-in defaults, then the config file, then the environment, then
the flags above; an invalid value stops start-up with a message naming it.

Settings (main.json key, environment variable, meaning; sections deployment, collector,
storage, monitoring, query; the security section is described in README "Security", and
EMMS_AUTH=off turns authentication off on a loopback bind):
${CONFIG_HELP.map((c) => `  ${c.key}${c.env === undefined ? '' : ` (${c.env})`}\n      ${c.help}`).join('\n')}

Log levels: ${LOG_LEVELS.join(', ')}. Stop with SIGTERM or SIGINT (Ctrl-C): acknowledged data is never lost.
`;
}

interface ParsedArgs {
  flags: ConfigFlags;
  configPath?: string;
  help: boolean;
  printConfig: boolean;
}

const VALUE_FLAGS = new Set(['--host', '--port', '--data', '--config']);

function parseArgs(argv: string[]): ParsedArgs {
  const out: ParsedArgs = { flags: {}, help: false, printConfig: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (arg === '--print-config') {
      out.printConfig = true;
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (!VALUE_FLAGS.has(name)) throw new Error(`unknown option ${JSON.stringify(arg)}; see emms serve --help`);
    const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined) throw new Error(`option ${name} needs a value; see emms serve --help`);
    if (name === '--config') out.configPath = value;
    else if (name === '--host') out.flags.host = value;
    else if (name === '--port') out.flags.port = value;
    else out.flags.data = value;
  }
  return out;
}

function makeLogger(level: LogLevel): (l: 'debug' | 'info' | 'warn' | 'error', message: string) => void {
  const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3, silent: 4 };
  return (l, message) => {
    if (rank[l] >= rank[level]) process.stderr.write(`${new Date().toISOString()} ${l} ${message}\n`);
  };
}

export async function run(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`emms serve: ${(err as Error).message}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(help());
    return 0;
  }
  const configPath = args.configPath ?? (existsSync('main.json') ? 'main.json' : undefined);
  let config;
  try {
    config = loadConfig({ configPath, flags: args.flags, warn: (m) => process.stderr.write(`emms serve: warning: ${m}\n`) });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`emms serve: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (args.printConfig) {
    process.stdout.write(renderConfigFile(config));
    return 0;
  }
  const log = makeLogger(config.logLevel);
  try {
    loadNativeUws();
  } catch (err) {
    if (err instanceof NativeUwsUnavailableError) {
      process.stderr.write(`emms serve: refusing to start: ${err.message}\n`);
      return 1;
    }
    throw err;
  }

  if (!process.execArgv.some((a) => a.startsWith(`${OLD_SPACE_FLAG}=`))) {
    log('info', `node runs without ${RECOMMENDED_OLD_SPACE}: V8 will start a collection several times a second on the `
      + 'thread that acknowledges batches (ack p99 up to ~2x); `npm start` and the emms command pass it');
  }
  const { startEmmsApp } = await import('../app/emms_app.js');
  let app;
  try {
    app = await startEmmsApp(config, log);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`emms serve: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`emms serve: ${(err as Error).message}\n`);
    return 1;
  }
  const { server } = app;
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  const scheme = config.security.tls === undefined ? 'http' : 'https';
  process.stdout.write(`EMMS listening on ${scheme}://${shownHost}:${server.port} (data ${config.storage.path})\n`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      log('info', `${signal}: stopping`);
      const deadline = setTimeout(() => {
        process.stderr.write(`emms serve: shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms; exiting\n`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      void (async () => {
        let code = 0;
        try {
          // Server first (finishes and acknowledges in-flight batches), engine last (flushes heads).
          await app.stop();
        } catch (err) {
          log('error', `stopping failed: ${(err as Error).message}`);
          code = 1;
        }
        log('info', 'stopped');
        // Worker pools may hold the loop open a moment longer; the exit code is final now.
        setTimeout(() => process.exit(code), 50).unref();
        resolve(code);
      })();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // SIGHUP re-reads the TLS certificate and key (after a renewal); bad files keep the old ones.
    process.on('SIGHUP', () => {
      if (config.security.tls === undefined) {
        log('info', 'SIGHUP: no security.tls configured; nothing to reload');
        return;
      }
      server.reloadTls().then(
        (result) => log(result.applied ? 'info' : 'warn', `SIGHUP: TLS certificate ${result.applied ? 'reloaded' : 'checked but not applied; the old one serves until restart'}: ${result.detail}`),
        (err: unknown) => log('error', `SIGHUP: TLS certificate not reloaded, the old one stays: ${(err as Error).message}`),
      );
    });
  });
}
