/** The audit-trail readers on hand-written fixtures (tests/fixtures/audit/README.md). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCloudTrail, kmsKeySpecAlgorithm } from '../../src/keys/audit/cloudtrail_audit.js';
import { parseVaultAudit } from '../../src/keys/audit/vault_audit.js';
import type { AuditImport } from '../../src/keys/audit/audit_import.js';
import { validateKeyEvent } from '../../src/keys/key_events.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/audit/${name}`, import.meta.url), 'utf8');

/** `key|event_type|outcome` → summed count. */
function tally(data: AuditImport): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of data.events) {
    const k = `${e.key_id}|${e.event_type}|${e.outcome}`;
    out[k] = (out[k] ?? 0) + e.count;
  }
  return out;
}

describe('Vault audit device log', () => {
  const data = parseVaultAudit(fixture('vault_audit.log'));

  it('makes one event per call (response preferred), counting batch_input items', () => {
    expect(tally(data)).toEqual({
      'payments|created|success': 1,
      'payments|encrypt|success': 7, // 1 + 1 + batch of 4 + rewrap
      'payments|decrypt|success': 3, // 2 + rewrap
      'payments|decrypt|failure': 1, // invalid ciphertext
      'payments|unauthorized_access|denied': 1,
      'payments|rotated|success': 1,
      'signer|created|success': 1,
      'signer|sign|success': 2,
      'signer|verify|success': 1,
      'legacy|revoked|success': 1,
      'legacy|encrypt|success': 1, // request entry without a response
    });
    expect(data.skipped).toEqual([{ record: 21, reason: expect.stringMatching(/^not JSON/) as unknown as string }]);
    expect(data.ignored).toBe(2); // kv read, approle login
  });

  it('carries time, actor, source address and the error as reason', () => {
    const denied = data.events.find((e) => e.event_type === 'unauthorized_access')!;
    expect(denied).toEqual({
      key_id: 'payments', event_type: 'unauthorized_access', timestamp: Date.parse('2024-03-01T10:06:00.0004Z'), count: 1,
      actor: 'approle-reports', source_ip: '203.0.113.77', outcome: 'denied', reason: '1 error occurred:\n\t* permission denied',
      record_id: '3f6b0007-8c1d-4e2f-9a0b-00000000d889',
    });
    // Every produced event passes the API's own validation.
    data.events.forEach(({ record_id: _id, ...e }, i) => expect(validateKeyEvent(e, i, 0)).toEqual(e));
  });

  it('discovers keys with their algorithm from the create call', () => {
    expect(data.keys.get('payments')).toMatchObject({ backend: 'vault', algorithm: 'AES-256-GCM', key_type: 'encryption', first_seen: Date.parse('2024-03-01T10:00:00.0001Z') });
    expect(data.keys.get('signer')).toMatchObject({ algorithm: 'ECDSA-P256', key_type: 'signing' });
    expect(data.keys.get('legacy')).toMatchObject({ algorithm: null, key_type: 'encryption' }); // implied by its use
  });

  it('applies a key id prefix and honours a custom mount point', () => {
    const line = JSON.stringify({
      time: '2024-01-01T00:00:00Z', type: 'response', auth: { display_name: 'x' },
      request: { id: 'r1', operation: 'update', mount_type: 'transit', mount_point: 'crypto/prod/', path: 'crypto/prod/encrypt/orders', data: {}, remote_address: '10.0.0.1' },
    });
    const d = parseVaultAudit(line + '\n', { keyIdPrefix: 'vault:' });
    expect(d.events.map((e) => [e.key_id, e.event_type])).toEqual([['vault:orders', 'encrypt']]);
  });
});

describe('CloudTrail KMS records', () => {
  const data = parseCloudTrail(fixture('cloudtrail_kms.json'));
  const A = 'arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const B = 'arn:aws:kms:us-east-1:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321';
  const C = 'arn:aws:kms:us-east-1:111122223333:key/5b1c9e2d-3f4a-4b6c-8d7e-9f0a1b2c3d4e';

  it('maps KMS calls to key events; AccessDenied becomes unauthorized_access', () => {
    expect(tally(data)).toEqual({
      [`${A}|created|success`]: 1,
      [`${A}|encrypt|success`]: 3, // Encrypt ×2, GenerateDataKey
      [`${A}|decrypt|success`]: 3, // Decrypt ×2 (one by S3), ReEncrypt source
      [`${A}|unauthorized_access|denied`]: 1,
      [`${A}|rotated|success`]: 1,
      [`${A}|accessed|success`]: 1,
      [`${B}|created|success`]: 1,
      [`${B}|sign|success`]: 1,
      [`${B}|verify|success`]: 1,
      [`${B}|security_event|success`]: 1, // DisableKey
      [`${C}|encrypt|success`]: 1, // ReEncrypt destination
      [`${C}|revoked|success`]: 1, // ScheduleKeyDeletion
    });
    expect(data.ignored).toBe(2); // ListKeys (no key), S3 PutObject
    expect(data.skipped).toEqual([]);
    // One record id (eventID) per record; ReEncrypt's two events share theirs.
    expect(data.events).toHaveLength(16);
    expect(new Set(data.events.map((e) => e.record_id)).size).toBe(15);
  });

  it('keeps addresses only when they are addresses, and the caller ARN as actor', () => {
    const byS3 = data.events.find((e) => e.event_type === 'decrypt' && e.actor === 's3.amazonaws.com')!;
    expect(byS3.source_ip).toBeNull();
    const denied = data.events.find((e) => e.event_type === 'unauthorized_access')!;
    expect(denied).toMatchObject({ source_ip: '198.51.100.23', actor: 'arn:aws:iam::111122223333:user/Mallory' });
    expect(denied.reason).toMatch(/^Decrypt: AccessDeniedException \(User: arn:aws:iam::111122223333:user\/Mallory is not authorized/);
    data.events.forEach(({ record_id: _id, ...e }, i) => expect(validateKeyEvent(e, i, 0)).toEqual(e));
  });

  it('discovers key specs and owners', () => {
    expect(data.keys.get(A)).toMatchObject({ backend: 'kms', algorithm: 'AES-256-GCM', key_type: 'encryption', owner: 'aws:111122223333' });
    expect(data.keys.get(B)).toMatchObject({ algorithm: 'ECDSA-P256', key_type: 'signing' });
    expect(data.keys.get(C)).toMatchObject({ algorithm: 'AES-256-GCM' }); // ReEncrypt destination algorithm SYMMETRIC_DEFAULT
  });

  it('reads JSON-lines and bare-array layouts the same way', () => {
    const records = (JSON.parse(fixture('cloudtrail_kms.json')) as { Records: unknown[] }).Records;
    const lines = parseCloudTrail(records.map((r) => JSON.stringify(r)).join('\n'));
    const array = parseCloudTrail(JSON.stringify(records));
    expect(tally(lines)).toEqual(tally(data));
    expect(tally(array)).toEqual(tally(data));
    expect(parseCloudTrail('{"eventSource":"kms.amazonaws.com"\nnot json').skipped).toHaveLength(2);
  });

  it('names KMS key specs in EMMS terms', () => {
    expect(['SYMMETRIC_DEFAULT', 'RSA_3072', 'ECC_NIST_P384', 'HMAC_256', 'ECC_SECG_P256K1', 'ML_DSA_65'].map(kmsKeySpecAlgorithm))
      .toEqual(['AES-256-GCM', 'RSA-3072', 'ECDSA-P384', 'HMAC-SHA256', 'ECDSA-secp256k1', 'ML_DSA_65']);
  });
});
