/**
 * What the maintenance commands share on the command line: where they act (`--data DIR`, a
 * stopped data directory, or `--url URL --token-file F`, a running server), their output
 * streams, and the exit codes (0 done, 1 failed, 2 usage), so each command file is only its
 * own options and its call.
 */
import { existsSync, statSync } from 'node:fs';
import { readTokenFile, type RemoteServer } from './admin_client.js';
import { createProgress, type Progress } from './progress.js';

export interface CommandIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Progress output (stderr: stdout stays for results). */
  progress: Progress;
}

export function processIo(): CommandIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    progress: createProgress(process.stderr),
  };
}

/** A command-line mistake: exit code 2 with the usage text. */
export class UsageError extends Error {}

export type CommandTarget = { kind: 'data'; dataDir: string } | { kind: 'server'; server: RemoteServer };

/** The `--data` / `--url --token-file` pair of options (parseArgs spelling). */
export const TARGET_OPTIONS = {
  data: { type: 'string' },
  url: { type: 'string' },
  'token-file': { type: 'string' },
  tenant: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const TARGET_USAGE = `  --data DIR          a stopped server's data directory
  --url URL           a running server (operator API), e.g. http://127.0.0.1:8080
  --token-file FILE   file holding an operator token (e.g. <data dir>/admin.token), with --url`;

export function targetOf(values: { data?: string | undefined; url?: string | undefined; 'token-file'?: string | undefined; tenant?: string | undefined }): CommandTarget {
  if ((values.data === undefined) === (values.url === undefined)) throw new UsageError('give either --data DIR (stopped server) or --url URL --token-file F (running server)');
  if (values.data !== undefined) {
    if (values['token-file'] !== undefined) throw new UsageError('--token-file goes with --url, not --data');
    if (!existsSync(values.data) || !statSync(values.data).isDirectory()) throw new UsageError(`--data ${JSON.stringify(values.data)} is not a directory`);
    return { kind: 'data', dataDir: values.data };
  }
  if (values['token-file'] === undefined) throw new UsageError('--url needs --token-file FILE (an operator token)');
  return { kind: 'server', server: { url: values.url!, token: readTokenFile(values['token-file']), tenant: values.tenant } };
}

/** Runs a command body: usage errors exit 2 with the usage text, failures 1 with the message. */
export async function runCommand(name: string, usage: string, io: CommandIo, body: () => Promise<void>): Promise<number> {
  try {
    await body();
    return 0;
  } catch (err) {
    io.progress.end();
    if (err instanceof UsageError) {
      io.stderr(`emms ${name}: ${err.message}\n\n${usage}\n`);
      return 2;
    }
    io.stderr(`emms ${name}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}
