/** `emms reindex (--data DIR | --url URL --token-file F)` (src/cli/whole_store_command.ts). */
import { runReindex } from '../maintenance/reindex.js';
import { wholeStoreCommand } from './whole_store_command.js';

export const runReindexCommand = wholeStoreCommand({
  name: 'reindex',
  does: 'rebuilds the store\'s indexes and chunk catalogue, deletes chunks of series that do not exist; prints usage before and after.',
  onStorage: (storage) => runReindex(storage),
});

export const run = (argv: string[]): Promise<number> => runReindexCommand(argv);
