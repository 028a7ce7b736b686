/**
 * The append side of the audit log (`<data>/audit.log`, format in audit_record.ts).
 *
 * Several processes may append to one log: the server, and `emms apikey` run against the same
 * data directory while it serves. Each append therefore takes an exclusive lock file beside the
 * log, and re-reads the chain's tail when the file grew under another writer, so that the chain
 * stays one chain. Appends are rare (state-changing requests, refused authentications, which
 * the failure limiter already bounds per address), so a lock per append costs nothing that
 * matters.
 *
 * Durability: each line is written with one write(2) before `append` returns, so a crash of
 * the process loses nothing; fdatasync runs at most every `syncIntervalMs` (100 ms), so a power
 * loss can lose that much. A line torn by a power loss is cut off at the next open and the cut
 * recorded as an `audit.recovered` event, so the chain stays verifiable and the loss is visible.
 */
import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import type { AuditRecordCipher } from './audit_cipher.js';
import { GENESIS_HASH, MAX_AUDIT_LINE_BYTES, chainHash, checkpointJson, checkpointMac, eventJson, parseAuditLine, type AuditEvent } from './audit_record.js';

export const AUDIT_LOG_FILE = 'audit.log';
export const AUDIT_KEY_FILE = 'audit.key';

export interface AuditLogOptions {
  path: string;
  /**
   * Key of the checkpoint MACs (32 bytes); keep it outside the data directory for full effect.
   * Without one, this writer appends records but no checkpoints: the command line, which does
   * not know where the server keeps its key, leaves checkpoints to the server.
   */
  checkpointKey: Uint8Array | undefined;
  /** Seals each record when encryption at rest is on (audit_cipher.ts). */
  cipher?: AuditRecordCipher | undefined;
  /** A checkpoint after this many records … */
  checkpointEvery?: number;
  /** … or when this long has passed since the last one, whichever comes first. */
  checkpointIntervalMs?: number;
  syncIntervalMs?: number;
  lockTimeoutMs?: number;
  now?: () => number;
}

export class AuditLogError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuditLogError';
  }
}

/** A lock older than this was left by a process that died holding it (appends take microseconds). */
const STALE_LOCK_MS = 10_000;

export class AuditLog {
  readonly path: string;
  readonly #lockPath: string;
  readonly #key: Uint8Array | undefined;
  readonly #cipher: AuditRecordCipher | undefined;
  readonly #checkpointEvery: number;
  readonly #checkpointIntervalMs: number;
  readonly #lockTimeoutMs: number;
  readonly #now: () => number;
  #fd: number;
  #size = 0;
  #lastHash = GENESIS_HASH;
  #lastSeq = 0;
  #sinceCheckpoint = 0;
  #lastCheckpointMs: number;
  #dirty = false;
  readonly #syncTimer: NodeJS.Timeout;

  private constructor(opts: AuditLogOptions, fd: number) {
    this.path = opts.path;
    this.#lockPath = `${opts.path}.lock`;
    this.#key = opts.checkpointKey;
    this.#cipher = opts.cipher;
    this.#checkpointEvery = opts.checkpointEvery ?? 256;
    this.#checkpointIntervalMs = opts.checkpointIntervalMs ?? 60_000;
    this.#lockTimeoutMs = opts.lockTimeoutMs ?? 2_000;
    this.#now = opts.now ?? Date.now;
    this.#fd = fd;
    this.#lastCheckpointMs = this.#now();
    this.#syncTimer = setInterval(() => this.flush(), opts.syncIntervalMs ?? 100);
    this.#syncTimer.unref();
  }

  static open(opts: AuditLogOptions): AuditLog {
    if (opts.checkpointKey !== undefined && opts.checkpointKey.length !== 32) throw new AuditLogError(`the audit checkpoint key must be 32 bytes; got ${opts.checkpointKey.length}`);
    let fd: number;
    try {
      fd = openSync(opts.path, 'a+', 0o600);
    } catch (err) {
      throw new AuditLogError(`cannot open the audit log ${opts.path}: ${(err as Error).message}`);
    }
    const log = new AuditLog(opts, fd);
    try {
      log.#locked(() => log.#readTail(true));
    } catch (err) {
      log.close();
      throw err;
    }
    return log;
  }

  /** The sequence number of the last line written (by any process, as of this process's last append). */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  append(event: AuditEvent): void {
    if (this.#fd < 0) throw new AuditLogError('the audit log is closed');
    this.#locked(() => {
      this.#catchUp();
      this.#writeEvent(event);
      this.#sinceCheckpoint++;
      if (this.#key !== undefined && this.#sinceCheckpoint >= this.#checkpointEvery || this.#now() - this.#lastCheckpointMs >= this.#checkpointIntervalMs) this.#writeCheckpoint();
    });
  }

  /** Writes a checkpoint now (at close, and for tests and `emms audit checkpoint`). */
  checkpoint(): void {
    this.#locked(() => {
      this.#catchUp();
      if (this.#key !== undefined && (this.#sinceCheckpoint > 0 || this.#lastSeq === 0)) this.#writeCheckpoint();
    });
  }

  flush(): void {
    if (!this.#dirty || this.#fd < 0) return;
    this.#dirty = false;
    fdatasyncSync(this.#fd);
  }

  close(): void {
    if (this.#fd < 0) return;
    clearInterval(this.#syncTimer);
    try {
      if (this.#sinceCheckpoint > 0) this.checkpoint();
      this.flush();
    } finally {
      closeSync(this.#fd);
      this.#fd = -1;
    }
  }

  #writeCheckpoint(): void {
    if (this.#key === undefined) return;
    this.#write(this.#lastSeq + 1, checkpointJson(this.#lastSeq + 1, this.#now(), checkpointMac(this.#key, this.#lastHash)));
    this.#sinceCheckpoint = 0;
    this.#lastCheckpointMs = this.#now();
  }

  #writeEvent(event: AuditEvent): void {
    const seq = this.#lastSeq + 1;
    const timeMs = this.#now();
    const json = eventJson(seq, timeMs, event);
    this.#write(seq, this.#cipher === undefined ? json : this.#cipher.seal(seq, new Date(timeMs).toISOString(), json));
  }

  #write(seq: number, json: string): void {
    if (this.#fd < 0) throw new AuditLogError('the audit log is closed');
    const hash = chainHash(this.#lastHash, json);
    const bytes = Buffer.from(`${hash} ${json}\n`, 'utf8');
    if (bytes.length > MAX_AUDIT_LINE_BYTES) throw new AuditLogError(`audit record of ${bytes.length} bytes passes ${MAX_AUDIT_LINE_BYTES}; a field is too long`);
    let written = 0;
    while (written < bytes.length) written += writeSync(this.#fd, bytes, written, bytes.length - written);
    this.#size += bytes.length;
    this.#lastHash = hash;
    this.#lastSeq = seq;
    this.#dirty = true;
  }

  /** Another process appended since our last write: continue its chain, not ours. */
  #catchUp(): void {
    if (fstatSync(this.#fd).size !== this.#size) this.#readTail(false);
  }

  #readTail(mayRepair: boolean): void {
    const size = fstatSync(this.#fd).size;
    if (size === 0) {
      this.#size = 0;
      this.#lastHash = GENESIS_HASH;
      this.#lastSeq = 0;
      return;
    }
    const span = Math.min(size, 2 * MAX_AUDIT_LINE_BYTES + 2);
    const tail = Buffer.alloc(span);
    readSync(this.#fd, tail, 0, span, size - span);
    let end = tail.length;
    let torn = 0;
    if (tail[end - 1] !== 0x0a) {
      const lastNewline = tail.lastIndexOf(0x0a);
      torn = end - (lastNewline + 1);
      end = lastNewline + 1;
      if (!mayRepair) throw new AuditLogError(`the audit log ${this.path} ends in a partial line written by another process`);
    }
    const start = tail.lastIndexOf(0x0a, end - 2) + 1;
    if (end === 0) {
      // The whole file is one torn line: nothing was ever completely written.
      this.#lastHash = GENESIS_HASH;
      this.#lastSeq = 0;
    } else {
      const text = tail.subarray(start, end - 1).toString('utf8');
      const { hash, line } = parseAuditLine(text, 0, this.#cipher);
      this.#lastHash = hash;
      this.#lastSeq = line.record.seq;
      // Records another writer left without a checkpoint (the command line writes none) are
      // anchored by this writer's next one.
      if (line.kind === 'event') this.#sinceCheckpoint = Math.max(this.#sinceCheckpoint, 1);
    }
    this.#size = size - torn;
    if (torn > 0) {
      ftruncateSync(this.#fd, this.#size);
      this.#writeEvent({ actor: 'emms', tenant: '*', source: '', requestId: '', action: 'audit.recovered', target: AUDIT_LOG_FILE, outcome: 'ok', detail: { truncatedBytes: torn } });
    }
  }

  #locked<T>(fn: () => T): T {
    const deadline = this.#now() + this.#lockTimeoutMs;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    let lockFd = -1;
    while (lockFd < 0) {
      try {
        lockFd = openSync(this.#lockPath, 'wx', 0o600);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new AuditLogError(`cannot lock the audit log (${this.#lockPath}): ${(err as Error).message}`);
        if (this.#lockIsStale()) continue;
        if (this.#now() > deadline) throw new AuditLogError(`the audit log lock ${this.#lockPath} is held by another process for over ${this.#lockTimeoutMs} ms`);
        Atomics.wait(pause, 0, 0, 1);
      }
    }
    try {
      return fn();
    } finally {
      closeSync(lockFd);
      unlinkSync(this.#lockPath);
    }
  }

  #lockIsStale(): boolean {
    try {
      if (Date.now() - statSync(this.#lockPath).mtimeMs < STALE_LOCK_MS) return false;
      unlinkSync(this.#lockPath);
      return true;
    } catch {
      // Released between our open and our stat: try again at once.
      return true;
    }
  }
}
