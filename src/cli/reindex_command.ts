/**
 * `emms reindex (--data DIR | --url URL --token-file F)`: rebuilds the store's indexes and chunk catalogue, deletes chunks of series that do not exist; prints usage before and after.
 */
import { parseArgs } from 'node:util';
import { remoteOperation } from '../maintenance/admin_client.js';
import { runReindex } from '../maintenance/reindex.js';
import { TARGET_OPTIONS, TARGET_USAGE, UsageError, processIo, runCommand, targetOf, type CommandIo } from '../maintenance/command_target.js';
import { formatReport, onStoppedDirectory } from '../maintenance/operation_report.js';

const USAGE = `Usage: emms reindex (--data DIR | --url URL --token-file F)

Reindex: rebuilds the store's indexes and chunk catalogue, deletes chunks of series that do not exist; prints usage before and after.

${TARGET_USAGE}`;

export async function runReindexCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runCommand('reindex', USAGE, io, async () => {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: TARGET_OPTIONS, strict: true }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(`${USAGE}\n`);
      return;
    }
    if (values.tenant !== undefined) throw new UsageError('--tenant does not apply: reindex works on the whole store');
    const target = targetOf(values);
    const report = target.kind === 'data'
      ? await onStoppedDirectory(target.dataDir, (storage) => runReindex(storage))
      : await remoteOperation(target.server, 'reindex');
    io.stdout(`${formatReport(report)}\n`);
  });
}

export const run = (argv: string[]): Promise<number> => runReindexCommand(argv);
