/**
 * Read-only connections for aggregation reads (query workers, and inline aggregated queries on
 * the main thread), separate from the storage's writer connection.
 *
 * Memory-mapped: chunk blobs span many 1 KiB overflow pages (PAGE_SIZE_BYTES in
 * src/storage/schema.ts), and mapped reads skip the page cache's copy of each page. Reading the
 * 24 h TSBS workload's chunks (1,000 × ~9.5 KB) took ~16 ms through the page cache and ~6 ms
 * mapped (bench/query.bench.ts workload, 2-core EPYC). The mapping is address space, not resident
 * memory; SQLite maps the file read-only and still reads the -wal file for newer pages.
 */
import type Database from 'better-sqlite3';
import { openDatabase } from '../storage/database.js';

/** Most bytes of the database file one reader connection maps. */
export const READER_MMAP_BYTES = 1 << 30;

export function openReaderConnection(path: string): Database.Database {
  const db = openDatabase(path, { readonly: true });
  db.pragma(`mmap_size = ${READER_MMAP_BYTES}`);
  return db;
}
