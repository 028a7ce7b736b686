/**
 * The audit trail of one data directory: the log file, its checkpoint key, and the page index
 * that `GET /api/v1/audit` reuses between requests.
 *
 * Recording never fails the action it records: the action has already happened when it is
 * recorded, so a write error (a full disk) is counted in `/metrics` and reported through
 * `onError`, and the next record continues the chain.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openKeyFile } from '../crypto/key_file.js';
import type { AuditRecordCipher } from './audit_cipher.js';
import { AUDIT_KEY_FILE, AUDIT_LOG_FILE, AuditLog } from './audit_log.js';
import { AuditOffsetIndex, queryAuditLog, type AuditFilter, type AuditPage } from './audit_query.js';
import type { AuditEvent } from './audit_record.js';
import { verifyAuditLog, type AuditVerification } from './audit_verify.js';

export interface AuditTrailOptions {
  dataDir: string;
  /** `security.audit.key_file`; default `<data>/audit.key`, created on first use. */
  keyFile?: string | undefined;
  onError?: (err: unknown) => void;
  now?: () => number;
  /** Seals records under the keyring's audit key when encryption at rest is on. */
  cipher?: AuditRecordCipher | undefined;
}

export class AuditTrail {
  readonly #log: AuditLog;
  readonly #key: Buffer | undefined;
  readonly #index = new AuditOffsetIndex();
  readonly #onError: (err: unknown) => void;
  readonly #cipher: AuditRecordCipher | undefined;
  #recorded = 0;
  #failures = 0;

  private constructor(log: AuditLog, key: Buffer | undefined, onError: (err: unknown) => void, cipher: AuditRecordCipher | undefined) {
    this.#log = log;
    this.#key = key;
    this.#onError = onError;
    this.#cipher = cipher;
  }

  static open(opts: AuditTrailOptions): AuditTrail {
    // The first thing a fresh server opens, so it makes the data directory (as auth.db would).
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    const keyFile = opts.keyFile ?? join(opts.dataDir, AUDIT_KEY_FILE);
    const key = openKeyFile(keyFile, { purpose: 'audit checkpoint', create: opts.keyFile === undefined });
    const log = AuditLog.open({ path: join(opts.dataDir, AUDIT_LOG_FILE), checkpointKey: key, cipher: opts.cipher, ...(opts.now ? { now: opts.now } : {}) });
    return new AuditTrail(log, key, opts.onError ?? (() => undefined), opts.cipher);
  }

  /**
   * A writer for the command line (`emms apikey` beside a running server): it appends records
   * to the same chain but writes no checkpoints, since only the server knows where its
   * checkpoint key lives (security.audit.key_file).
   */
  static openWithoutCheckpoints(dataDir: string, cipher?: AuditRecordCipher): AuditTrail {
    return new AuditTrail(AuditLog.open({ path: join(dataDir, AUDIT_LOG_FILE), checkpointKey: undefined, cipher }), undefined, () => undefined, cipher);
  }

  get path(): string {
    return this.#log.path;
  }

  record(event: AuditEvent): void {
    try {
      this.#log.append(event);
      this.#recorded++;
    } catch (err) {
      this.#failures++;
      this.#onError(err);
    }
  }

  page(filter: AuditFilter): AuditPage {
    this.#log.flush();
    return queryAuditLog(this.#log.path, filter, this.#index, this.#cipher);
  }

  verify(): AuditVerification {
    return verifyAuditLog(this.#log.path, this.#key, this.#cipher);
  }

  /** Prometheus text for /metrics. */
  metrics(): string {
    return [
      '# HELP emms_audit_records_total Audit records written by this process.',
      '# TYPE emms_audit_records_total counter',
      `emms_audit_records_total ${this.#recorded}`,
      '# HELP emms_audit_write_failures_total Audit records that could not be written (the action they record went ahead).',
      '# TYPE emms_audit_write_failures_total counter',
      `emms_audit_write_failures_total ${this.#failures}`,
      '',
    ].join('\n');
  }

  close(): void {
    this.#log.close();
  }
}
