/** `emms compact (--data DIR | --url URL --token-file F)` (src/cli/whole_store_command.ts). */
import { runCompact } from '../maintenance/compact.js';
import { wholeStoreCommand } from './whole_store_command.js';

export const runCompactCommand = wholeStoreCommand({
  name: 'compact',
  does: 'merges small and overlapping chunks and returns free space to the file system; prints usage before and after.',
  onStorage: (storage, progress) => runCompact(storage, progress),
});

export const run = (argv: string[]): Promise<number> => runCompactCommand(argv);
