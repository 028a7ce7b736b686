/**
 * Audit records sealed with AES-256-GCM under an audit data key of the keyring, when
 * encryption at rest is on (docs/format/audit_log.md, docs/format/encryption.md).
 *
 * A sealed line keeps the chain's shape: `<hash> {"seq":N,"time":"…","key":"dk-au-…","sealed":"<base64>"}`,
 * where `sealed` is nonce ‖ ciphertext ‖ tag of the record's whole JSON. The hash chain and the
 * checkpoints cover the sealed JSON as written, so `emms audit verify` checks order and
 * completeness as before; with the key it also opens every record, and a record whose
 * ciphertext was altered fails its tag and is named. Sequence number, time and key id are the
 * additional authenticated data: a sealed body moved to another record does not open either.
 * What stays readable without the key: how many records, when, and under which key id.
 */
import { AeadAuthenticationError, openAesGcm, sealAesGcm } from '../crypto/aead.js';

export interface SealedAuditFields {
  seq: number;
  time: string;
  key: string;
  sealed: string;
}

export class AuditRecordCipher {
  readonly #keys: Map<string, Uint8Array>;
  readonly #currentId: string;

  /** `keys`: every audit key by id (older records name retired ones); `currentId` seals new records. */
  constructor(keys: Map<string, Uint8Array>, currentId: string) {
    if (!keys.has(currentId)) throw new RangeError(`audit key ${currentId} is not among the ${keys.size} keys given`);
    this.#keys = keys;
    this.#currentId = currentId;
  }

  /** The line JSON that replaces `json` (the record's plain JSON, with these seq and time). */
  seal(seq: number, time: string, json: string): string {
    const key = this.#keys.get(this.#currentId)!;
    const sealed = sealAesGcm(key, Buffer.from(json, 'utf8'), context(seq, time, this.#currentId));
    const fields: SealedAuditFields = { seq, time, key: this.#currentId, sealed: sealed.toString('base64') };
    return JSON.stringify(fields);
  }

  /** The plain JSON of a sealed record; throws naming the record when it does not open. */
  open(fields: SealedAuditFields): string {
    const key = this.#keys.get(fields.key);
    if (key === undefined) throw new Error(`record ${fields.seq} is sealed under audit key ${fields.key}, which the keyring does not hold`);
    try {
      return openAesGcm(key, Buffer.from(fields.sealed, 'base64'), context(fields.seq, fields.time, fields.key)).toString('utf8');
    } catch (err) {
      if (err instanceof AeadAuthenticationError) throw new Error(`record ${fields.seq} fails its authentication tag: its ciphertext, number or time was altered`);
      throw err;
    }
  }
}

function context(seq: number, time: string, keyId: string): Buffer {
  return Buffer.from(`emms-audit v1\n${seq}\n${time}\n${keyId}`, 'utf8');
}
