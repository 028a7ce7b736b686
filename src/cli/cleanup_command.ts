/**
 * `emms cleanup --older-than=90d [--tenant T] (--data DIR | --url URL --token-file F)`:
 * deletes every point older than the age, now; prints usage before and after.
 */
import { parseArgs } from 'node:util';
import { remoteOperation } from '../maintenance/admin_client.js';
import { parseAge, runCleanup } from '../maintenance/cleanup.js';
import { TARGET_OPTIONS, TARGET_USAGE, UsageError, processIo, runCommand, targetOf, type CommandIo } from '../maintenance/command_target.js';
import { formatReport, onStoppedDirectory } from '../maintenance/operation_report.js';

const USAGE = `Usage: emms cleanup --older-than AGE [--tenant T] (--data DIR | --url URL --token-file F)

Deletes every point older than AGE (a count and a unit: s, m, h, d, w; e.g. 90d).

  --older-than AGE    the age
  --tenant T          that tenant's points only
${TARGET_USAGE}`;

export async function runCleanupCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runCommand('cleanup', USAGE, io, async () => {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: { ...TARGET_OPTIONS, 'older-than': { type: 'string' } }, strict: true }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(`${USAGE}\n`);
      return;
    }
    if (values['older-than'] === undefined) throw new UsageError('--older-than AGE is required (e.g. 90d)');
    let ageMs: number;
    try {
      ageMs = parseAge(values['older-than']);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const target = targetOf(values);
    const report = target.kind === 'data'
      ? await onStoppedDirectory(target.dataDir, (storage) => runCleanup(storage, ageMs, values.tenant, Date.now(), io.progress))
      : await remoteOperation(target.server, 'cleanup', { older_than: values['older-than'], ...(values.tenant === undefined ? {} : { scope: 'tenant' }) });
    io.stdout(`${formatReport(report)}\n`);
  });
}

export const run = (argv: string[]): Promise<number> => runCleanupCommand(argv);
