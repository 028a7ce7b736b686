/**
 * The SQLite side of state replication, for one feature database (auth.db, alerts.db …),
 * without any change to the store that owns the file:
 *
 * - Capture: at open, triggers generated from `PRAGMA table_info` are (re)installed on every
 *   table of the file. Each INSERT, UPDATE and DELETE, by any connection or process (the
 *   store's own, the `emms apikey` CLI, tenant deletion), appends the changed row's primary
 *   key to the local outbox table, in the writer's own transaction: a change is either
 *   committed with its outbox entry or not at all. An UPDATE that changes the key records both
 *   keys (the old one reads back as a deletion).
 * - Read: `pending()` turns the outbox into changes by reading each named row as it is NOW
 *   (gone = a deletion), in one read transaction. Several entries for one row collapse into one
 *   change. `acknowledge(seq)` removes what was uploaded.
 * - Apply: `apply()` writes other nodes' changes with bound parameters in one transaction,
 *   with the capture switched off (the flag table below), so applied rows are not sent back,
 *   and records the log cursor in the same transaction, so a crash never applies twice or
 *   skips. A remote change to a row with a local change still in the outbox is skipped: the
 *   local one is later in log order once uploaded, so every node ends with it (last writer
 *   wins by log order).
 *
 * Why a flag table rather than a connection-local switch: triggers of the main schema may not
 * read temp tables, and a custom SQL function would be missing on the stores' connections. The
 * flag is set and cleared inside the applying transaction; SQLite has one writer at a time, so
 * no other connection ever sees it set.
 *
 * Tables whose primary key has more than MAX_KEY_COLUMNS columns are refused at open; tables
 * without a declared key are keyed by rowid.
 */
import type Database from 'better-sqlite3';
import { decodeValue, encodeValue, type EncodedValue, type SqliteValue } from './row_codec.js';

export const OUTBOX_TABLE = '_emms_repl_outbox';
export const FLAG_TABLE = '_emms_repl_applying';
export const META_TABLE = '_emms_repl_meta';
const TRIGGER_PREFIX = '_emms_repl_';
export const MAX_KEY_COLUMNS = 4;
const KEY_SLOTS = Array.from({ length: MAX_KEY_COLUMNS }, (_, i) => `k${i + 1}`);
const ROWID = 'rowid';

/** One row's new state (row) or its deletion (row null), as it travels in the log. */
export interface RowChange {
  /** Table name. */
  t: string;
  /** Primary key values in key order (rowid for tables without a declared key). */
  k: EncodedValue[];
  /** Every column by name, or null when the row is gone. */
  r: Record<string, EncodedValue> | null;
}

export interface PendingChanges {
  /** Highest outbox sequence the changes cover: acknowledge(upTo) after they are uploaded. */
  upTo: number;
  changes: RowChange[];
}

interface TableShape {
  name: string;
  keys: string[];
  columns: string[];
  /** Declared key or rowid (then `rowid` is written explicitly so every node keeps the same one). */
  rowidKeyed: boolean;
  select: Database.Statement;
  remove: Database.Statement;
  localPending: Database.Statement;
}

export class ReplicationSchemaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplicationSchemaError';
  }
}

const quoteId = (name: string): string => `"${name.replaceAll('"', '""')}"`;
const quoteText = (text: string): string => `'${text.replaceAll("'", "''")}'`;

export class SqliteChangeCapture {
  readonly #db: Database.Database;
  readonly #tables = new Map<string, TableShape>();
  readonly #readOutbox: Database.Statement;
  readonly #deleteOutbox: Database.Statement;
  readonly #outboxRows: Database.Statement;
  readonly #lastSeq: Database.Statement;
  readonly #pendingThrough: Database.Statement;
  readonly #setFlag: Database.Statement;
  readonly #getMeta: Database.Statement;
  readonly #setMeta: Database.Statement;
  readonly #deleteMeta: Database.Statement;
  readonly #upserts = new Map<string, { update: Database.Statement; insert: Database.Statement }>();

  /**
   * Installs the outbox and the triggers on `db` (a connection of its own, opened by the caller
   * with the same key as the stores' connections). `exclude`: tables left out (local-only).
   */
  constructor(db: Database.Database, exclude: readonly string[] = []) {
    this.#db = db;
    db.exec(`
      CREATE TABLE IF NOT EXISTS ${OUTBOX_TABLE} (seq INTEGER PRIMARY KEY AUTOINCREMENT, tbl TEXT NOT NULL, ${KEY_SLOTS.join(', ')});
      CREATE INDEX IF NOT EXISTS ${OUTBOX_TABLE}_by_row ON ${OUTBOX_TABLE} (tbl, k1);
      CREATE TABLE IF NOT EXISTS ${FLAG_TABLE} (applying INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS ${META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    db.transaction(() => {
      if (db.prepare(`SELECT count(*) FROM ${FLAG_TABLE}`).pluck().get() === 0) db.prepare(`INSERT INTO ${FLAG_TABLE} VALUES (0)`).run();
      // Stale triggers (a table dropped or re-keyed by a store migration) go first.
      const old = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '${TRIGGER_PREFIX}%'`).pluck().all() as string[];
      for (const name of old) db.exec(`DROP TRIGGER ${quoteId(name)}`);
      const names = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_emms\\_repl\\_%' ESCAPE '\\' ORDER BY name`).pluck().all() as string[];
      for (const name of names) {
        if (exclude.includes(name)) continue;
        const shape = this.#shapeOf(name);
        this.#tables.set(name, shape);
        db.exec(triggersOf(shape));
      }
    })();
    this.#readOutbox = db.prepare(`SELECT seq, tbl, ${KEY_SLOTS.join(', ')} FROM ${OUTBOX_TABLE} ORDER BY seq LIMIT ?`).safeIntegers(true);
    this.#deleteOutbox = db.prepare(`DELETE FROM ${OUTBOX_TABLE} WHERE seq <= ?`);
    this.#outboxRows = db.prepare(`SELECT count(*) FROM ${OUTBOX_TABLE}`).pluck();
    // AUTOINCREMENT keeps the highest id ever handed out in sqlite_sequence (created with the
    // outbox), so the mark never moves back when the outbox is emptied.
    this.#lastSeq = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = ${quoteText(OUTBOX_TABLE)}`).pluck();
    this.#pendingThrough = db.prepare(`SELECT 1 FROM ${OUTBOX_TABLE} WHERE seq <= ? LIMIT 1`).pluck();
    this.#setFlag = db.prepare(`UPDATE ${FLAG_TABLE} SET applying = ?`);
    this.#getMeta = db.prepare(`SELECT value FROM ${META_TABLE} WHERE key = ?`).pluck();
    this.#deleteMeta = db.prepare(`DELETE FROM ${META_TABLE} WHERE key = ?`);
    this.#setMeta = db.prepare(`INSERT INTO ${META_TABLE} (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`);
  }

  /**
   * Removes the capture from `db` (its triggers, outbox, flag and cursor tables) and says
   * whether there was any: a data directory that was a cluster node's and now runs on SQLite
   * storage would otherwise append every change to an outbox nobody drains.
   */
  static uninstall(db: Database.Database): boolean {
    const triggers = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '${TRIGGER_PREFIX}%'`).pluck().all() as string[];
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)`).pluck().all(OUTBOX_TABLE, FLAG_TABLE, META_TABLE) as string[];
    if (triggers.length === 0 && tables.length === 0) return false;
    db.transaction(() => {
      for (const name of triggers) db.exec(`DROP TRIGGER ${quoteId(name)}`);
      for (const name of tables) db.exec(`DROP TABLE ${quoteId(name)}`);
    })();
    return true;
  }

  /** Names of the replicated tables. */
  get tables(): string[] {
    return [...this.#tables.keys()];
  }

  /** Rows in the outbox (changes not yet acknowledged as uploaded). */
  outboxRows(): number {
    return this.#outboxRows.get() as number;
  }

  /**
   * The id of the newest outbox entry ever written (0: none): a change committed before the
   * call has an id at most this.
   */
  lastSeq(): number {
    return (this.#lastSeq.get() as number | undefined) ?? 0;
  }

  /** Whether an entry with id at most `seq` is still in the outbox (not yet acknowledged). */
  pendingThrough(seq: number): boolean {
    return this.#pendingThrough.get(seq) !== undefined;
  }

  /** Up to `limit` outbox entries as changes, each row read as it is now; undefined when empty. */
  pending(limit: number): PendingChanges | undefined {
    return this.#db.transaction(() => {
      const entries = this.#readOutbox.all(limit) as Array<Record<string, unknown>>;
      if (entries.length === 0) return undefined;
      const seen = new Set<string>();
      const changes: RowChange[] = [];
      for (const e of entries) {
        const shape = this.#tables.get(e.tbl as string);
        if (shape === undefined) continue; // a table dropped since the entry was written
        const key = KEY_SLOTS.slice(0, shape.keys.length).map((slot) => e[slot] as SqliteValue);
        const encodedKey = key.map(encodeValue);
        const id = rowId(shape.name, encodedKey);
        if (seen.has(id)) continue;
        seen.add(id);
        const row = shape.select.get(...key) as Record<string, unknown> | undefined;
        changes.push({ t: shape.name, k: encodedKey, r: row === undefined ? null : encodeRow(row) });
      }
      return { upTo: Number(entries[entries.length - 1]!.seq), changes };
    }).deferred();
  }

  /** Removes the outbox entries up to `upTo` (they are in the shared log). */
  acknowledge(upTo: number): void {
    this.#deleteOutbox.run(upTo);
  }

  /**
   * Applies other nodes' changes and stores `cursor` (the log position they reach) under
   * `cursorName`, in one transaction with the capture off. Changes of unknown tables or
   * columns are skipped (a node of another version); returns how many rows were written.
   */
  apply(changes: readonly RowChange[], cursorName: string, cursor: string): number {
    let written = 0;
    this.#db.transaction(() => {
      this.#setFlag.run(1);
      for (const change of changes) {
        const shape = this.#tables.get(change.t);
        if (shape === undefined || change.k.length !== shape.keys.length) continue;
        const key = change.k.map(decodeValue);
        if (shape.localPending.get(...key) !== undefined) continue;
        if (change.r === null) {
          written += shape.remove.run(...key).changes;
          continue;
        }
        const columns = Object.keys(change.r).filter((c) => shape.columns.includes(c) || (shape.rowidKeyed && c === ROWID));
        const values = columns.map((c) => decodeValue(change.r![c]));
        const { update, insert } = this.#upsertOf(shape, columns);
        const updated = update.run(...values, ...key).changes;
        if (updated === 0) insert.run(...values);
        written++;
      }
      this.#setMeta.run(cursorName, cursor);
      this.#setFlag.run(0);
    }).immediate();
    return written;
  }

  /**
   * The end of a full re-read of the log (state_replicator.ts, resync): removes every row of
   * the replicated tables whose key is not in `seen` (rowId() of the log's rows) and has no
   * local change waiting, with the capture off, and removes the meta `clear` in the same
   * transaction. Returns the rows removed.
   */
  sweep(seen: ReadonlySet<string>, clear: string): number {
    let removed = 0;
    this.#db.transaction(() => {
      this.#setFlag.run(1);
      for (const shape of this.#tables.values()) {
        const keys = this.#db.prepare(`SELECT ${shape.keys.map((k) => (k === ROWID && shape.rowidKeyed ? 'rowid' : quoteId(k))).join(', ')} FROM ${quoteId(shape.name)}`).raw().safeIntegers(true).all() as SqliteValue[][];
        for (const key of keys) {
          if (seen.has(rowId(shape.name, key.map(encodeValue)))) continue;
          if (shape.localPending.get(...key) !== undefined) continue;
          removed += shape.remove.run(...key).changes;
        }
      }
      this.#deleteMeta.run(clear);
      this.#setFlag.run(0);
    }).immediate();
    return removed;
  }

  meta(name: string): string | undefined {
    return this.#getMeta.get(name) as string | undefined;
  }

  setMeta(name: string, value: string): void {
    this.#setMeta.run(name, value);
  }

  #shapeOf(name: string): TableShape {
    const info = this.#db.prepare(`PRAGMA table_info(${quoteId(name)})`).all() as Array<{ name: string; pk: number }>;
    const declared = info.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk).map((c) => c.name);
    if (declared.length > MAX_KEY_COLUMNS) {
      throw new ReplicationSchemaError(`table ${name} has a ${declared.length}-column primary key; state replication handles at most ${MAX_KEY_COLUMNS}`);
    }
    const rowidKeyed = declared.length === 0;
    const keys = rowidKeyed ? [ROWID] : declared;
    const where = keys.map((k) => `${quoteId(k)} IS ?`).join(' AND ');
    const slotWhere = keys.map((_, i) => `${KEY_SLOTS[i]} IS ?`).join(' AND ');
    return {
      name,
      keys,
      columns: info.map((c) => c.name),
      rowidKeyed,
      select: this.#db.prepare(`SELECT ${rowidKeyed ? 'rowid AS rowid, ' : ''}* FROM ${quoteId(name)} WHERE ${where}`).safeIntegers(true),
      remove: this.#db.prepare(`DELETE FROM ${quoteId(name)} WHERE ${where}`),
      localPending: this.#db.prepare(`SELECT 1 FROM ${OUTBOX_TABLE} WHERE tbl = ${quoteText(name)} AND ${slotWhere} LIMIT 1`),
    };
  }

  #upsertOf(shape: TableShape, columns: string[]): { update: Database.Statement; insert: Database.Statement } {
    const id = `${shape.name}\u0000${columns.join('\u0000')}`;
    let statements = this.#upserts.get(id);
    if (statements === undefined) {
      const where = shape.keys.map((k) => `${quoteId(k)} IS ?`).join(' AND ');
      const sets = columns.map((c) => `${quoteId(c)} = ?`).join(', ');
      statements = {
        update: this.#db.prepare(`UPDATE ${quoteId(shape.name)} SET ${sets} WHERE ${where}`),
        insert: this.#db.prepare(`INSERT INTO ${quoteId(shape.name)} (${columns.map(quoteId).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`),
      };
      // Bounded: one pair per (table, column set) this build and its peers write.
      this.#upserts.set(id, statements);
    }
    return statements;
  }
}

/** One row's identity within a file, as sweep() compares it: the table and the encoded key. */
export function rowId(table: string, key: readonly EncodedValue[]): string {
  return `${table}\u0000${JSON.stringify(key)}`;
}

function encodeRow(row: Record<string, unknown>): Record<string, EncodedValue> {
  const out: Record<string, EncodedValue> = {};
  for (const [column, value] of Object.entries(row)) out[column] = encodeValue(value);
  return out;
}

/** The three capture triggers of one table; each fires only while no remote change is applied. */
function triggersOf(shape: TableShape): string {
  const table = quoteId(shape.name);
  const slots = KEY_SLOTS.slice(0, shape.keys.length).join(', ');
  const keysOf = (row: 'NEW' | 'OLD'): string => shape.keys.map((k) => `${row}.${quoteId(k)}`).join(', ');
  const entry = (row: 'NEW' | 'OLD'): string => `INSERT INTO ${OUTBOX_TABLE} (tbl, ${slots}) VALUES (${quoteText(shape.name)}, ${keysOf(row)});`;
  const keyChanged = shape.keys.map((k) => `OLD.${quoteId(k)} IS NOT NEW.${quoteId(k)}`).join(' OR ');
  const when = `WHEN (SELECT applying FROM ${FLAG_TABLE}) = 0`;
  const name = (op: string): string => quoteId(`${TRIGGER_PREFIX}${op}_${shape.name}`);
  return `
    CREATE TRIGGER ${name('i')} AFTER INSERT ON ${table} ${when} BEGIN ${entry('NEW')} END;
    CREATE TRIGGER ${name('u')} AFTER UPDATE ON ${table} ${when} BEGIN
      INSERT INTO ${OUTBOX_TABLE} (tbl, ${slots}) SELECT ${quoteText(shape.name)}, ${keysOf('OLD')} WHERE ${keyChanged};
      ${entry('NEW')}
    END;
    CREATE TRIGGER ${name('d')} AFTER DELETE ON ${table} ${when} BEGIN ${entry('OLD')} END;
  `;
}
