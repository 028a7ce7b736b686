import { describe, expect, it } from 'vitest';
import { canonicalRemoteAddress } from '../../src/server/remote_address.js';

const text = (s: string): ArrayBuffer => new Uint8Array(Buffer.from(s)).buffer;

describe('canonicalRemoteAddress', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
    ['0000:0000:0000:0000:0000:ffff:0a09:0909', '10.9.9.9'],
    ['0000:0000:0000:0000:0000:0000:0000:0001', '::1'],
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'],
    ['fe80:0000:0000:0001:0000:0000:0000:0001', 'fe80:0:0:1::1'],
  ])('%s -> %s', (raw, expected) => {
    expect(canonicalRemoteAddress(text(raw))).toBe(expected);
  });
});
