/**
 * `emms backup --output FILE.tar.gz [--tenant T] (--data DIR | --url URL --token-file F)`:
 * a consistent backup archive of a stopped data directory, or of a running server through its
 * operator API (src/maintenance/backup.ts). Prints a summary on stdout.
 */
import { parseArgs } from 'node:util';
import { remoteBackup } from '../maintenance/admin_client.js';
import { createBackup } from '../maintenance/backup.js';
import { openCommandEncryption } from '../crypto/command_encryption.js';
import { TARGET_OPTIONS, TARGET_USAGE, UsageError, processIo, runCommand, targetOf, type CommandIo } from '../maintenance/command_target.js';

const USAGE = `Usage: emms backup --output FILE.tar.gz [--tenant T] (--data DIR | --url URL --token-file F)

Writes a consistent backup archive (tar.gz with a manifest of SHA-256 checksums). Against a
running server, ingest continues: everything acknowledged before the backup started is in it.

  --output FILE       the archive to write (replaced atomically; never left half-written)
  --tenant T          that tenant's data only
${TARGET_USAGE}`;

export async function runBackupCommand(argv: string[], io: CommandIo = processIo()): Promise<number> {
  return runCommand('backup', USAGE, io, async () => {
    let values;
    try {
      ({ values } = parseArgs({ args: argv, options: { ...TARGET_OPTIONS, output: { type: 'string', short: 'o' } }, strict: true }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    if (values.help === true) {
      io.stdout(`${USAGE}\n`);
      return;
    }
    if (values.output === undefined) throw new UsageError('--output FILE.tar.gz is required');
    const target = targetOf(values);
    if (target.kind === 'data') {
      await openCommandEncryption(target.dataDir);
      const r = await createBackup({ dataDir: target.dataDir, output: values.output, tenant: values.tenant, progress: io.progress });
      io.stdout(`backup ${r.output}: ${r.bytes} bytes (${r.dataBytes} bytes of data, ${r.manifest.files.length} files, ${r.manifest.series} series, tenants ${r.manifest.tenants.join(', ') || '(none)'}) in ${(r.durationMs / 1000).toFixed(2)} s\n`);
    } else {
      const started = Date.now();
      const r = await remoteBackup(target.server, values.output, values.tenant !== undefined, io.progress);
      io.stdout(`backup ${values.output}: ${r.bytes} bytes (${r.manifest.files.length} files, ${r.manifest.series} series, tenants ${r.manifest.tenants.join(', ') || '(none)'}) in ${((Date.now() - started) / 1000).toFixed(2)} s\n`);
    }
  });
}

export const run = (argv: string[]): Promise<number> => runBackupCommand(argv);
