/**
 * `emms restore --input FILE.tar.gz --data DIR [--force]`: a backup archive into a data
 * directory, checked whole before the directory is touched (src/maintenance/restore.ts).
 * The server must be stopped: restore swaps the whole directory.
 */
import { parseArgs } from 'node:util';
import { UsageError, processIo, runCommand, type CommandIo } from '../maintenance/command_target.js';
import { restoreBackup } from '../maintenance/restore.js';

const USAGE = `Usage: emms restore --input FILE.tar.gz --data DIR [--force]

Verifies every checksum of the archive, then replaces DIR with its contents in one swap.

  --input FILE   the archive (from emms backup)
  --data DIR     the data directory to restore into (the server stopped)
  --force        replace DIR even when it is not empty`;

export async function runRestoreCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runCommand('restore', USAGE, io, async () => {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: { input: { type: 'string', short: 'i' }, data: { type: 'string' }, force: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(`${USAGE}\n`);
      return;
    }
    if (values.input === undefined) throw new UsageError('--input FILE.tar.gz is required');
    if (values.data === undefined) throw new UsageError('--data DIR is required');
    const r = await restoreBackup({ input: values.input, dataDir: values.data, force: values.force === true, progress: io.progress });
    const m = r.manifest;
    io.stdout(`restored ${r.dataDir}: ${m.files.length} files, ${r.dataBytes} bytes, ${m.series} series, tenants ${m.tenants.join(', ') || '(none)'}; backup of ${m.created_at} by emms ${m.source_version}${m.tenant === null ? '' : ` (tenant ${m.tenant} only)`}, in ${(r.durationMs / 1000).toFixed(2)} s\n`);
  });
}

export const run = (argv: string[]): Promise<number> => runRestoreCommand(argv);
