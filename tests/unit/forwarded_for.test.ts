/**
 * The client address behind trusted proxies (src/server/forwarded_for.ts): the right-most
 * address of X-Forwarded-For that is not a trusted proxy, only when the socket is one; IPv4,
 * IPv6 and IPv4-mapped forms compared canonically; spoofed left-most entries never chosen;
 * bounded length and hop count; garbage refused with the header and value named. Also what a
 * standby sends on, and the setting (main.json and METRICS_TRUSTED_PROXIES).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, renderConfigFile } from '../../src/config/config.js';
import { NO_NETWORKS, parseNetworkList } from '../../src/net/cidr.js';
import {
  canonicalAddressText, clientAddressOf, ForwardedForError, forwardedForToSend, MAX_FORWARDED_FOR_CHARS, MAX_FORWARDED_FOR_HOPS, parseForwardedFor,
} from '../../src/server/forwarded_for.js';

const proxies = parseNetworkList('security.trusted_proxies', ['10.0.0.0/24', '2001:db8:1::/64']);

describe('canonicalAddressText', () => {
  it.each([
    ['192.0.2.7', '192.0.2.7'],
    ['::1', '::1'],
    ['2001:DB8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:0db8:0000:0001:0001:0001:0001:0001', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:192.0.2.7', '192.0.2.7'],
    ['::FFFF:c000:0207', '192.0.2.7'],
    ['0000:0000:0000:0000:0000:ffff:7f00:0001', '127.0.0.1'],
  ])('%s -> %s', (text, expected) => {
    expect(canonicalAddressText(text)).toBe(expected);
  });

  it.each(['', 'unknown', 'localhost', '127.1', '1.2.3.4.5', '256.1.1.1', 'fe80::1%eth0', '1.2.3.4 '])('refuses %j', (text) => {
    expect(canonicalAddressText(text)).toBeUndefined();
  });
});

describe('parseForwardedFor', () => {
  it('reads addresses left to right, trimmed and canonical, with optional ports', () => {
    expect(parseForwardedFor('203.0.113.5')).toEqual(['203.0.113.5']);
    expect(parseForwardedFor(' 203.0.113.5 ,10.0.0.2,  2001:DB8::7 ')).toEqual(['203.0.113.5', '10.0.0.2', '2001:db8::7']);
    expect(parseForwardedFor('203.0.113.5:4711, [2001:db8::7]:443, [::ffff:10.0.0.9]')).toEqual(['203.0.113.5', '2001:db8::7', '10.0.0.9']);
  });

  it.each([
    ['unknown', '"unknown"'],
    ['203.0.113.5,,10.0.0.2', '""'],
    ['203.0.113.5, evil.example', '"evil.example"'],
    ['203.0.113.5:99999', '"203.0.113.5:99999"'],
    ['203.0.113.5:', '"203.0.113.5:"'],
    ['[2001:db8::7', '"[2001:db8::7"'],
    ['[2001:db8::7]x', '"[2001:db8::7]x"'],
    ['[203.0.113.5]', '"[203.0.113.5]"'],
    ['1.2.3.4; for=5.6.7.8', '"1.2.3.4; for=5.6.7.8"'],
  ])('refuses %j naming the header, the value and the entry', (value, entry) => {
    let err: unknown;
    try {
      parseForwardedFor(value);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ForwardedForError);
    expect((err as ForwardedForError).status).toBe(400);
    expect((err as Error).message).toBe(`header X-Forwarded-For=${JSON.stringify(value)} has ${entry}, which is not an IP address`);
  });

  it('bounds the hop count and the length, quoting a shortened value', () => {
    const hops = (n: number): string => Array.from({ length: n }, (_, i) => `10.0.${i >> 8}.${i & 0xff}`).join(',');
    expect(parseForwardedFor(hops(MAX_FORWARDED_FOR_HOPS))).toHaveLength(MAX_FORWARDED_FOR_HOPS);
    expect(() => parseForwardedFor(hops(MAX_FORWARDED_FOR_HOPS + 1))).toThrow(`lists ${MAX_FORWARDED_FOR_HOPS + 1} addresses; at most ${MAX_FORWARDED_FOR_HOPS} are accepted`);
    const long = `${' '.repeat(MAX_FORWARDED_FOR_CHARS)}1.2.3.4`;
    expect(() => parseForwardedFor(long)).toThrow(new RegExp(`^header X-Forwarded-For=" {120}…" is longer than ${MAX_FORWARDED_FOR_CHARS} characters$`));
    // A million commas is refused by its length before any split.
    expect(() => parseForwardedFor(','.repeat(1_000_000))).toThrow(/is longer than/);
  });
});

describe('clientAddressOf', () => {
  it('an untrusted socket is the client: the header is not read at all, even when it is garbage', () => {
    expect(clientAddressOf('198.51.100.9', '203.0.113.5', proxies)).toBe('198.51.100.9');
    expect(clientAddressOf('198.51.100.9', 'not an address', proxies)).toBe('198.51.100.9');
    expect(clientAddressOf('10.0.0.1', '203.0.113.5', NO_NETWORKS)).toBe('10.0.0.1');
  });

  it('a trusted socket without the header is the client', () => {
    expect(clientAddressOf('10.0.0.1', undefined, proxies)).toBe('10.0.0.1');
    expect(clientAddressOf('10.0.0.1', '  ', proxies)).toBe('10.0.0.1');
  });

  it('takes the right-most address that is not a trusted proxy (IPv4)', () => {
    expect(clientAddressOf('10.0.0.1', '203.0.113.5', proxies)).toBe('203.0.113.5');
    expect(clientAddressOf('10.0.0.1', '203.0.113.5, 10.0.0.2, 10.0.0.3', proxies)).toBe('203.0.113.5');
  });

  it('ignores spoofed left-most entries: what the client wrote left of the first untrusted hop is never chosen', () => {
    // The client (198.51.100.9) claimed to be 10.0.0.7 and 1.1.1.1; the trusted proxy appended the real one.
    expect(clientAddressOf('10.0.0.1', '1.1.1.1, 10.0.0.7, 198.51.100.9', proxies)).toBe('198.51.100.9');
    expect(clientAddressOf('10.0.0.1', '127.0.0.1, 198.51.100.9, 10.0.0.2', proxies)).toBe('198.51.100.9');
  });

  it('compares IPv6 and IPv4-mapped forms canonically', () => {
    expect(clientAddressOf('2001:db8:1::5', '2001:DB8:2:0:0:0:0:9, 2001:db8:1:0::6', proxies)).toBe('2001:db8:2::9');
    expect(clientAddressOf('10.0.0.1', '[::ffff:203.0.113.5]:1234, ::ffff:10.0.0.2', proxies)).toBe('203.0.113.5');
    expect(clientAddressOf('10.0.0.1', '::ffff:c633:6409', proxies)).toBe('198.51.100.9');
  });

  it('when every address is a trusted proxy, the left-most', () => {
    expect(clientAddressOf('10.0.0.1', '10.0.0.9, 10.0.0.2', proxies)).toBe('10.0.0.9');
  });

  it('a trusted socket with a header that cannot be read is a ForwardedForError; too many hops too', () => {
    expect(() => clientAddressOf('10.0.0.1', '203.0.113.5, garbage', proxies)).toThrow(ForwardedForError);
    expect(() => clientAddressOf('10.0.0.1', Array(MAX_FORWARDED_FOR_HOPS + 1).fill('10.0.0.2').join(','), proxies)).toThrow(/at most 32 are accepted/);
  });
});

describe('forwardedForToSend (a standby forwarding)', () => {
  it('an untrusted client: its own claims are dropped, only its socket address goes on', () => {
    expect(forwardedForToSend('198.51.100.9', '127.0.0.2, 10.0.0.7', proxies)).toBe('198.51.100.9');
    expect(forwardedForToSend('198.51.100.9', 'garbage', proxies)).toBe('198.51.100.9');
    expect(forwardedForToSend('198.51.100.9', undefined, proxies)).toBe('198.51.100.9');
  });

  it('a trusted proxy as the client: its header is kept (canonical) and its address appended', () => {
    expect(forwardedForToSend('10.0.0.1', '203.0.113.5:80 , 2001:DB8::1', proxies)).toBe('203.0.113.5, 2001:db8::1, 10.0.0.1');
    expect(forwardedForToSend('10.0.0.1', undefined, proxies)).toBe('10.0.0.1');
    expect(() => forwardedForToSend('10.0.0.1', 'garbage', proxies)).toThrow(ForwardedForError);
    // The next hop refuses more than the bound: the standby refuses it first.
    const full = Array(MAX_FORWARDED_FOR_HOPS).fill('203.0.113.5').join(',');
    expect(() => forwardedForToSend('10.0.0.1', full, proxies)).toThrow(/the next hop would refuse more than 32/);
  });

  it('the next hop reads back the client a standby names', () => {
    const sent = forwardedForToSend('10.0.0.1', '203.0.113.5', proxies);
    // The writer sees the standby (10.0.0.4, also trusted) as its socket.
    expect(clientAddressOf('10.0.0.4', sent, proxies)).toBe('203.0.113.5');
    expect(clientAddressOf('10.0.0.4', forwardedForToSend('198.51.100.9', '203.0.113.5', proxies), proxies)).toBe('198.51.100.9');
  });
});

describe('security.trusted_proxies', () => {
  it('defaults to none; reads main.json and METRICS_TRUSTED_PROXIES (environment wins); prints back', () => {
    expect(loadConfig({ env: {} }).security.trustedProxies.entries).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'emms-trusted-proxies-'));
    try {
      const file = join(dir, 'main.json');
      writeFileSync(file, JSON.stringify({ security: { trusted_proxies: ['10.0.0.0/24', '::1'] } }));
      const fromFile = loadConfig({ configPath: file, env: {} });
      expect(fromFile.security.trustedProxies.entries).toEqual(['10.0.0.0/24', '::1']);
      expect(fromFile.security.trustedProxies.contains('10.0.0.200')).toBe(true);
      expect(JSON.parse(renderConfigFile(fromFile)).security.trusted_proxies).toEqual(['10.0.0.0/24', '::1']);
      const fromEnv = loadConfig({ configPath: file, env: { METRICS_TRUSTED_PROXIES: ' 127.0.0.1/32, ,192.168.0.0/16 ' } });
      expect(fromEnv.security.trustedProxies.entries).toEqual(['127.0.0.1/32', '192.168.0.0/16']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses an entry that is not a CIDR, naming the key, the value and the source', () => {
    const load = (): unknown => loadConfig({ env: { METRICS_TRUSTED_PROXIES: '10.0.0.0/24,10.0.0.0/33' } });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/security\.trusted_proxies\[1\].*10\.0\.0\.0\/33.*environment METRICS_TRUSTED_PROXIES/);
    expect(() => loadConfig({ env: { METRICS_TRUSTED_PROXIES: 'proxy.internal' } })).toThrow(/security\.trusted_proxies\[0\].*proxy\.internal/);
  });
});
