/**
 * Reads AWS CloudTrail records of AWS KMS calls into key events.
 *
 * Format (https://docs.aws.amazon.com/kms/latest/developerguide/understanding-kms-entries.html):
 * a log file is `{"Records": [...]}`; exports from CloudTrail Lake or EventBridge are also
 * accepted as a JSON array or one record per line. A record has `eventTime`, `eventSource`
 * (`kms.amazonaws.com`), `eventName`, `userIdentity.arn`, `sourceIPAddress` (an address, or a
 * service name such as `s3.amazonaws.com` when a service called on someone's behalf),
 * `requestParameters.keyId`, `resources[].ARN`, and `errorCode`/`errorMessage` on failure.
 *
 * eventName → event type: Encrypt, GenerateDataKey* → encrypt; Decrypt → decrypt; ReEncrypt →
 * decrypt (source key) + encrypt (destination key); Sign, GenerateMac → sign; Verify, VerifyMac
 * → verify; CreateKey → created; RotateKey, RotateKeyOnDemand → rotated; ScheduleKeyDeletion,
 * DeleteKey, DeleteImportedKeyMaterial → revoked; policy, grant and enable/disable changes →
 * security_event; Describe/Get/List calls on a key → accessed. Any `errorCode` containing
 * AccessDenied → unauthorized_access (outcome denied); other errors keep the operation with
 * outcome failure. Keys are named by their ARN when the record gives it.
 */
import { isIP } from 'node:net';
import { isStorableTime, timeInputMs } from '../../model/time.js';
import type { KeyType } from '../key_model.js';
import type { KeyEventType } from '../key_events.js';
import { emptyImport, noteKey, type AuditImport } from './audit_import.js';

const EVENT_TYPES: Record<string, KeyEventType> = {
  Encrypt: 'encrypt', GenerateDataKey: 'encrypt', GenerateDataKeyWithoutPlaintext: 'encrypt',
  GenerateDataKeyPair: 'encrypt', GenerateDataKeyPairWithoutPlaintext: 'encrypt',
  Decrypt: 'decrypt',
  Sign: 'sign', GenerateMac: 'sign',
  Verify: 'verify', VerifyMac: 'verify',
  CreateKey: 'created',
  RotateKey: 'rotated', RotateKeyOnDemand: 'rotated',
  ScheduleKeyDeletion: 'revoked', DeleteKey: 'revoked', DeleteImportedKeyMaterial: 'revoked',
  DisableKey: 'security_event', EnableKey: 'security_event', CancelKeyDeletion: 'security_event',
  PutKeyPolicy: 'security_event', CreateGrant: 'security_event', RevokeGrant: 'security_event',
  RetireGrant: 'security_event', EnableKeyRotation: 'security_event', DisableKeyRotation: 'security_event',
  ImportKeyMaterial: 'security_event', ReplicateKey: 'security_event', UpdatePrimaryRegion: 'security_event',
  DescribeKey: 'accessed', GetPublicKey: 'accessed', GetKeyPolicy: 'accessed', GetKeyRotationStatus: 'accessed',
  ListGrants: 'accessed', ListKeyPolicies: 'accessed', ListResourceTags: 'accessed', GetParametersForImport: 'accessed',
};

/** AWS KMS KeySpec → our algorithm names (https://docs.aws.amazon.com/kms/latest/developerguide/symm-asymm-choose-key-spec.html). */
export function kmsKeySpecAlgorithm(spec: string): string {
  if (spec === 'SYMMETRIC_DEFAULT') return 'AES-256-GCM';
  let m: RegExpMatchArray | null;
  if ((m = spec.match(/^RSA_(\d+)$/)) !== null) return `RSA-${m[1]}`;
  if ((m = spec.match(/^ECC_NIST_P(\d+)$/)) !== null) return `ECDSA-P${m[1]}`;
  if (spec === 'ECC_SECG_P256K1') return 'ECDSA-secp256k1';
  if ((m = spec.match(/^HMAC_(\d+)$/)) !== null) return `HMAC-SHA${m[1]}`;
  return spec;
}

const KEY_USAGE_TYPES: Record<string, KeyType> = {
  ENCRYPT_DECRYPT: 'encryption', SIGN_VERIFY: 'signing', GENERATE_VERIFY_MAC: 'hmac', KEY_AGREEMENT: 'wrapping',
};

export interface CloudTrailImportOptions {
  /** Owner for keys first seen here; default `aws:<account id>` from the key ARN. */
  owner?: string;
}

function asObject(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

/** Records of a file in any of the accepted layouts. */
export function cloudTrailRecords(text: string): { records: unknown[]; skipped: Array<{ record: number; reason: string }> } {
  const trimmed = text.trim();
  if (trimmed === '') return { records: [], skipped: [] };
  try {
    const doc: unknown = JSON.parse(trimmed);
    if (Array.isArray(doc)) return { records: doc, skipped: [] };
    const recs = asObject(doc).Records;
    if (Array.isArray(recs)) return { records: recs, skipped: [] };
    return { records: [doc], skipped: [] };
  } catch {
    // Not one JSON document: one record per line.
  }
  const records: unknown[] = [];
  const skipped: Array<{ record: number; reason: string }> = [];
  trimmed.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const doc: unknown = JSON.parse(line);
      const recs = asObject(doc).Records;
      if (Array.isArray(recs)) records.push(...recs);
      else records.push(doc);
    } catch (err) {
      skipped.push({ record: i + 1, reason: `line is not JSON: ${err instanceof Error ? err.message : String(err)}` });
    }
  });
  return { records, skipped };
}

function keyArns(rec: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (Array.isArray(rec.resources)) {
    for (const r of rec.resources) {
      const o = asObject(r);
      const arn = str(o.ARN);
      if (arn !== null && /:key\//.test(arn) && (o.type === undefined || o.type === 'AWS::KMS::Key')) out.push(arn);
    }
  }
  return out;
}

export function parseCloudTrail(text: string, options: CloudTrailImportOptions = {}): AuditImport {
  const out = emptyImport();
  const { records, skipped } = cloudTrailRecords(text);
  out.skipped.push(...skipped);
  records.forEach((raw, index) => {
    const rec = asObject(raw);
    if (rec.eventSource !== 'kms.amazonaws.com') {
      out.ignored++;
      return;
    }
    const time = typeof rec.eventTime === 'string' ? timeInputMs(rec.eventTime) ?? NaN : NaN;
    if (!isStorableTime(time)) {
      out.skipped.push({ record: index + 1, reason: `eventTime=${JSON.stringify(rec.eventTime)?.slice(0, 200)} is not an ISO-8601 time in [1970, 2200)` });
      return;
    }
    const name = str(rec.eventName) ?? '';
    const mapped = EVENT_TYPES[name];
    const isReEncrypt = name === 'ReEncrypt';
    if (mapped === undefined && !isReEncrypt) {
      out.ignored++;
      return;
    }
    const req = asObject(rec.requestParameters);
    const resp = asObject(rec.responseElements);
    const meta = asObject(resp.keyMetadata);
    const arns = keyArns(rec);
    const metaArn = str(meta.arn);
    // Which key each event is about: ReEncrypt names both; other calls name one.
    const targets: Array<{ keyId: string; type: KeyEventType }> = [];
    if (isReEncrypt) {
      const dest = str(req.destinationKeyId);
      const destArn = arns.find((a) => dest !== null && (a === dest || a.endsWith(`/${dest}`))) ?? dest;
      const srcArn = arns.find((a) => a !== destArn) ?? str(req.sourceKeyId);
      if (srcArn !== null) targets.push({ keyId: srcArn, type: 'decrypt' });
      if (destArn !== null) targets.push({ keyId: destArn, type: 'encrypt' });
    } else {
      const keyId = metaArn ?? arns[0] ?? str(req.keyId);
      if (keyId !== null) targets.push({ keyId, type: mapped! });
    }
    if (targets.length === 0) {
      out.skipped.push({ record: index + 1, reason: `${name} record names no key (no resources[].ARN, requestParameters.keyId or keyMetadata.arn)` });
      return;
    }
    const errorCode = str(rec.errorCode);
    const denied = errorCode !== null && /AccessDenied/i.test(errorCode);
    const identity = asObject(rec.userIdentity);
    const actor = str(identity.arn) ?? str(identity.invokedBy) ?? str(identity.principalId) ?? str(identity.type);
    const sourceIp = str(rec.sourceIPAddress);
    const spec = str(req.keySpec) ?? str(req.customerMasterKeySpec) ?? str(meta.KeySpec) ?? str(meta.keySpec) ?? str(meta.customerMasterKeySpec);
    const usage = str(req.keyUsage) ?? str(meta.keyUsage);
    const mac = str(req.macAlgorithm);
    for (const t of targets) {
      let algorithm: string | null = null;
      let keyType: KeyType | null = null;
      if (t.type === 'created') {
        algorithm = kmsKeySpecAlgorithm(spec ?? 'SYMMETRIC_DEFAULT');
        keyType = KEY_USAGE_TYPES[usage ?? 'ENCRYPT_DECRYPT'] ?? null;
      } else if ((isReEncrypt ? (t.type === 'encrypt' ? req.destinationEncryptionAlgorithm : req.sourceEncryptionAlgorithm) : req.encryptionAlgorithm) === 'SYMMETRIC_DEFAULT') {
        algorithm = 'AES-256-GCM';
        keyType = 'encryption';
      } else if (mac !== null) {
        algorithm = kmsKeySpecAlgorithm(mac.replace(/^HMAC_SHA_/, 'HMAC_'));
        keyType = 'hmac';
      } else if (t.type === 'sign') {
        keyType = 'signing';
      }
      const account = /^arn:aws[a-z-]*:kms:[^:]*:(\d+):/.exec(t.keyId)?.[1];
      noteKey(out, {
        key_id: t.keyId, backend: 'kms', key_type: keyType, algorithm,
        owner: options.owner ?? (account !== undefined ? `aws:${account}` : null),
      }, time);
      out.events.push({
        key_id: t.keyId,
        event_type: denied ? 'unauthorized_access' : t.type,
        timestamp: time,
        count: 1,
        actor,
        source_ip: sourceIp !== null && isIP(sourceIp) !== 0 ? sourceIp : null,
        outcome: denied ? 'denied' : errorCode !== null ? 'failure' : 'success',
        reason: errorCode !== null ? `${name}: ${errorCode}${str(rec.errorMessage) !== null ? ` (${String(rec.errorMessage).slice(0, 900)})` : ''}` : null,
        record_id: str(rec.eventID),
      });
    }
  });
  return out;
}
