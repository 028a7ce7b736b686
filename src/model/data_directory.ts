/**
 * Where an engine keeps its files: the database `metrics.db` in a data directory, with the
 * features' own databases (alerts.db, keys.db, health.db, auth.db) beside it.
 */
import { join } from 'node:path';

export const DEFAULT_DATA_DIRECTORY = 'data';
export const DATABASE_FILE_NAME = 'metrics.db';
export const DEFAULT_DATABASE_PATH = join(DEFAULT_DATA_DIRECTORY, DATABASE_FILE_NAME);

/** The database file of the data directory `dataDirectory`. */
export function databasePathIn(dataDirectory: string): string {
  return join(dataDirectory, DATABASE_FILE_NAME);
}
