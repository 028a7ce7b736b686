/**
 * The server's logger: pino, one JSON object per line on stderr (`{"level":"info","time":…,
 * "msg":…}`), or pino-pretty's coloured lines when stderr is a terminal. Features keep calling
 * the plain `log(level, message, fields?)` function they always took (`logFunction` adapts it),
 * so nothing outside the composition root knows pino.
 *
 * Secrets never reach the output: structured fields are redacted by path (LOG_REDACT_PATHS,
 * pino's own redaction, compiled once), and free-text messages go through
 * `redactSecretsInText` (bearer tokens, JWTs, API key tokens, URL userinfo, `password=…`).
 *
 * Lines go through `process.stderr.write`, which is synchronous on Linux for files, pipes and
 * terminals: a line written just before `process.exit` (a refused start, a shutdown deadline)
 * is never lost in a buffer, and at the server's log volume (one line per HTTP request, none per
 * stream frame) the write cost does not show. (Looked up at each write, so that a supervisor or
 * test that replaces `process.stderr.write` sees the lines.)
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import { REDACTED_TEXT, redactSecretsInText } from './secret_text.js';

export type LogLevelName = 'debug' | 'info' | 'warn' | 'error' | 'silent';
export const LOG_LEVEL_NAMES: readonly LogLevelName[] = ['debug', 'info', 'warn', 'error', 'silent'];

/** Extra structured fields of one event (request id, tenant, latency …). */
export type LogFields = Readonly<Record<string, unknown>>;

/** What features receive: the message is free text, fields are optional structure. */
export type LogFunction = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: LogFields) => void;

/**
 * Field paths whose values are replaced by `[redacted]`, at the top level and one level down
 * (`headers.authorization`, `channel.secret`): request headers that carry credentials, tokens,
 * passwords, channel and webhook secrets, JWTs.
 */
const SECRET_FIELD_NAMES = [
  'authorization', 'cookie', 'set-cookie', 'x-api-key', 'token', 'access_token', 'refresh_token', 'id_token', 'api_key', 'apiKey',
  'password', 'passwd', 'secret', 'client_secret', 'webhook_secret', 'jwt', 'private_key', 'privateKey', 'smtp_password',
] as const;

export const LOG_REDACT_PATHS: readonly string[] = [
  ...SECRET_FIELD_NAMES.map((name) => (name.includes('-') ? `["${name}"]` : name)),
  ...SECRET_FIELD_NAMES.map((name) => (name.includes('-') ? `*["${name}"]` : `*.${name}`)),
  'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'headers["x-api-key"]',
];

export interface LoggerOptions {
  level: LogLevelName;
  /** pino-pretty output instead of JSON; default: when the destination is a TTY. */
  pretty?: boolean;
  /** Default: stderr (fd 2). Tests pass a stream that collects the lines. */
  destination?: DestinationStream;
  /** Bound into every line, e.g. `{ service: 'emms' }`. */
  base?: Record<string, unknown>;
}

/** Pretty output on a terminal unless EMMS_LOG_FORMAT=json; JSON otherwise unless EMMS_LOG_FORMAT=pretty. */
export function wantsPrettyOutput(env: Record<string, string | undefined>, stderrIsTty: boolean): boolean {
  const format = env.EMMS_LOG_FORMAT?.trim().toLowerCase();
  if (format === 'json') return false;
  if (format === 'pretty') return true;
  return stderrIsTty;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination
    ?? (options.pretty === true
      ? pretty({ destination: process.stderr, colorize: true, translateTime: 'SYS:standard', ignore: 'pid,hostname,service' })
      : { write: (line: string) => { process.stderr.write(line); } });
  return pino({
    level: options.level,
    base: options.base ?? { service: 'emms' },
    // Level names, not numbers: what log shippers and humans grep for.
    formatters: { level: (label) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...LOG_REDACT_PATHS], censor: REDACTED_TEXT },
  }, destination);
}

/**
 * The `log(level, message, fields?)` function features take, writing to `logger`. The message
 * is scrubbed of secrets (see secret_text.ts); fields go through the logger's path redaction.
 */
export function logFunction(logger: Logger): LogFunction {
  return (level, message, fields) => {
    if (!logger.isLevelEnabled(level)) return;
    const msg = redactSecretsInText(message);
    if (fields === undefined) logger[level](msg);
    else logger[level]({ ...fields }, msg);
  };
}
