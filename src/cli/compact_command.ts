/**
 * `emms compact (--data DIR | --url URL --token-file F)`: merges small and overlapping chunks and returns free space to the file system; prints usage before and after.
 */
import { parseArgs } from 'node:util';
import { remoteOperation } from '../maintenance/admin_client.js';
import { runCompact } from '../maintenance/compact.js';
import { TARGET_OPTIONS, TARGET_USAGE, UsageError, processIo, runCommand, targetOf, type CommandIo } from '../maintenance/command_target.js';
import { formatReport, onStoppedDirectory } from '../maintenance/operation_report.js';

const USAGE = `Usage: emms compact (--data DIR | --url URL --token-file F)

Compact: merges small and overlapping chunks and returns free space to the file system; prints usage before and after.

${TARGET_USAGE}`;

export async function runCompactCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runCommand('compact', USAGE, io, async () => {
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
    if (values.tenant !== undefined) throw new UsageError('--tenant does not apply: compact works on the whole store');
    const target = targetOf(values);
    const report = target.kind === 'data'
      ? await onStoppedDirectory(target.dataDir, (storage) => runCompact(storage, io.progress))
      : await remoteOperation(target.server, 'compact');
    io.stdout(`${formatReport(report)}\n`);
  });
}

export const run = (argv: string[]): Promise<number> => runCompactCommand(argv);
