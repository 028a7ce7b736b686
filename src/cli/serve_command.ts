/**
 * `emms serve`: the storage engine (SQLite, PostgreSQL or Redis underneath) behind the
 * HTTP/WebSocket front end. Prints the URL it listens on (one line on stdout, `EMMS listening
 * on http://host:port (data …)`, the storage location with any password as ***); SIGTERM or SIGINT
 * stops accepting, lets in-flight batches commit and be acknowledged, flushes the engine and
 * exits 0 within 10 s.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ADMIN_TOKEN_FILE } from '../auth/bootstrap.js';
import { CONFIG_HELP, ConfigError, LOG_LEVELS, loadConfig, renderConfigFile, type ConfigFlags, type LogLevel } from '../config/config.js';
import { storageLocation } from '../config/storage_settings.js';
import { createLogger, logFunction, wantsPrettyOutput, type LogFunction } from '../logging/logger.js';
import { NativeUwsUnavailableError, loadNativeUws } from '../server/native_uws.js';
import { STORAGE_BACKENDS_HELP } from './serve_storage_help.js';

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
  --data DIR       data directory; with sqlite the database is DIR/metrics.db (default ./data)
  --config FILE    main.json settings file (default ./main.json when it exists)
  --print-config   print the effective settings (defaults, file, environment, flags) as a
                   main.json and exit; the file names secret files, never their contents
  -h, --help       show this help

Settings are read from built-in defaults, then the config file, then the environment, then
the flags above; an invalid value stops start-up with a message naming it.

Settings (main.json key, environment variable, meaning; sections deployment, collector,
storage, monitoring, query; the security section is described in README "Security",
EMMS_AUTH=off turns authentication off on a loopback bind, and METRICS_TRUSTED_PROXIES=CIDR,...
(security.trusted_proxies, default none) lists the load balancers and cluster standbys whose
X-Forwarded-For names the client's address; from any other address that header is ignored):
${CONFIG_HELP.map((c) => `  ${c.key}${c.env === undefined ? '' : ` (${c.env})`}\n      ${c.help}`).join('\n')}

${STORAGE_BACKENDS_HELP}
Log levels: ${LOG_LEVELS.join(', ')}; logs are JSON lines on stderr (pretty on a terminal,
EMMS_LOG_FORMAT=json|pretty to choose). SIGHUP re-reads the config file's live sections (log
level, security.quotas, alerting.rules) and the TLS files; an invalid file changes nothing.
Stop with SIGTERM or SIGINT (Ctrl-C): acknowledged data is never lost.
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

/**
 * The server's log: JSON lines on stderr via pino (pretty on a terminal; see
 * src/logging/logger.ts), and a level setter for SIGHUP.
 */
export function makeLogger(level: LogLevel, env: Record<string, string | undefined> = process.env, stderrIsTty = process.stderr.isTTY === true): { log: LogFunction; setLevel: (level: LogLevel) => void } {
  const logger = createLogger({ level, pretty: wantsPrettyOutput(env, stderrIsTty) });
  return { log: logFunction(logger), setLevel: (next) => { logger.level = next; } };
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
  const { log, setLevel } = makeLogger(config.logLevel);
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
  const { reloadConfig, reloadTargetsOf } = await import('../app/config_reload.js');
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
  // With a database back-end, the node's own files (keys, alert state, audit) stay in --data.
  const data = config.storage.type === 'sqlite' ? config.storage.path : `${dirname(config.storage.path)}, storage ${storageLocation(config.storage, config.storage.path)}`;
  process.stdout.write(`EMMS listening on ${scheme}://${shownHost}:${server.port} (data ${data})\n`);
  // A wildcard bind is reachable at localhost, which is also a Host the DNS-rebinding guard accepts.
  const browserHost = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : shownHost;
  const tokenFile = join(dirname(config.storage.path), ADMIN_TOKEN_FILE);
  // On stderr with the other logs: stdout stays the one line that scripts parse.
  log('info', `dashboard: ${scheme}://${browserHost}:${server.port}/ (sign in with an API key or a JWT${existsSync(tokenFile) ? `; the operator token is in ${tokenFile}` : ''})`);

  return new Promise<number>((resolve) => {
    let stopping = false;
    /** `failed`: stop with exit code 1 (the writer lease was lost: a supervisor restarts the node as a standby). */
    const stop = (signal: string, failed = false): void => {
      if (stopping) return;
      stopping = true;
      log('info', `${signal}: stopping`);
      const deadline = setTimeout(() => {
        process.stderr.write(`emms serve: shutdown did not finish within ${SHUTDOWN_DEADLINE_MS} ms; exiting\n`);
        process.exit(1);
      }, SHUTDOWN_DEADLINE_MS);
      deadline.unref();
      void (async () => {
        let code = failed ? 1 : 0;
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
    void app.writerLost.then((reason) => stop(`writer lease lost (${reason})`, true));
    process.once('SIGINT', () => stop('SIGINT'));
    // SIGHUP re-reads main.json's live sections and the TLS files (src/app/config_reload.ts);
    // an invalid file changes nothing. Reloads run one after another, never interleaved.
    let reloading: Promise<unknown> = Promise.resolve();
    let running = config;
    const targets = reloadTargetsOf(app, setLevel, config.security.tls !== undefined);
    process.on('SIGHUP', () => {
      reloading = reloading.then(async () => {
        if (configPath === undefined) log('info', 'SIGHUP: no config file (--config or ./main.json); only the TLS files are re-read');
        const load = () => (configPath === undefined ? running : loadConfig({ configPath, flags: args.flags, warn: (m) => log('warn', m) }));
        const outcome = await reloadConfig(running, load, targets, log);
        running = outcome.config;
        // Which sections changed, never their values (a quota is harmless, a path less so).
        app.audit.record({
          actor: 'emms', tenant: '*', source: '', requestId: '', action: 'config.reload', target: configPath ?? '',
          outcome: outcome.applied ? 'ok' : 'failed',
          detail: { changes: outcome.changes.length, restartNeeded: outcome.restartNeeded.length },
        });
      });
    });
  });
}
