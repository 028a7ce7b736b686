/**
 * The shape shared by the maintenance commands that act on the whole store and take no options
 * of their own (`emms compact`, `emms reindex`): a stopped data directory or a running server,
 * the report printed before and after. Each command module names its operation and says what
 * it does; parsing, targets and exit codes live here once.
 */
import { parseArgs } from 'node:util';
import { remoteOperation } from '../maintenance/admin_client.js';
import { TARGET_OPTIONS, TARGET_USAGE, UsageError, processIo, runCommand, targetOf, type CommandIo } from '../maintenance/command_target.js';
import { formatReport, onStoppedDirectory, type OperationReport } from '../maintenance/operation_report.js';
import type { Progress } from '../maintenance/progress.js';
import type { MaintainableStorage } from '../model/maintainable_storage.js';

export interface WholeStoreOperation {
  name: 'compact' | 'reindex';
  /** One sentence for --help. */
  does: string;
  onStorage: (storage: MaintainableStorage, progress: Progress) => Promise<OperationReport<object>>;
}

export function wholeStoreCommand(op: WholeStoreOperation): (argv: string[], io?: CommandIo) => Promise<number> {
  const label = op.name.charAt(0).toUpperCase() + op.name.slice(1);
  const usage = `Usage: emms ${op.name} (--data DIR | --url URL --token-file F)\n\n${label}: ${op.does}\n\n${TARGET_USAGE}`;
  return (argv, io = processIo()) =>
    runCommand(op.name, usage, io, async () => {
      let values;
      try {
        ({ values } = parseArgs({ args: argv, options: TARGET_OPTIONS, strict: true }));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      if (values.help === true) {
        io.stdout(`${usage}\n`);
        return;
      }
      if (values.tenant !== undefined) throw new UsageError(`--tenant does not apply: ${op.name} works on the whole store`);
      const target = targetOf(values);
      const report = target.kind === 'data'
        ? await onStoppedDirectory(target.dataDir, (storage) => op.onStorage(storage, io.progress))
        : await remoteOperation(target.server, op.name);
      io.stdout(`${formatReport(report)}\n`);
    });
}
