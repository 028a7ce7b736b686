/**
 * Parsing of RedisStorageOptions (src/storage/redis/redis_location.ts): connection settings,
 * the redacted form every message shows, and prefix validation naming field and value.
 */
import { describe, expect, it } from 'vitest';
import { parseRedisLocation, scrubSecret, validatePrefix } from '../../src/storage/redis/redis_location.js';

describe('redis location', () => {
  it('parses host, port, db, user and password, and redacts the password', () => {
    const loc = parseRedisLocation({ url: 'redis://emms:s%40cret@db.example:6380/3' });
    expect(loc.settings).toEqual({ host: 'db.example', port: 6380, db: 3, username: 'emms', password: 's@cret', tls: false });
    expect(loc.redacted).toBe('redis://emms:***@db.example:6380/3');
    expect(loc.prefix).toBe('emms:');
  });

  it('defaults the port and db, and knows rediss:// and IPv6 hosts', () => {
    expect(parseRedisLocation({ url: 'redis://127.0.0.1' }).settings).toEqual({ host: '127.0.0.1', port: 6379, db: 0, tls: false });
    expect(parseRedisLocation({ url: 'rediss://:pw@[::1]:7000' }).settings).toEqual({ host: '::1', port: 7000, db: 0, password: 'pw', tls: true });
    expect(parseRedisLocation({ url: 'rediss://:pw@[::1]:7000' }).redacted).toBe('rediss://:***@[::1]:7000');
    expect(parseRedisLocation({ url: 'redis://h:1', prefix: 'a{b}:' }).prefix).toBe('a{b}:');
  });

  it('refuses bad URLs naming the field and the value, never the password', () => {
    const cases: Array<[string, RegExp]> = [
      ['', /options.redis.url must be a redis:\/\/ URL; got ""/],
      ['http://:pw@h:1', /scheme http: is not redis: or rediss:/],
      ['redis://:topsecret@h:1/x', /database "x" must be a non-negative integer/],
      ['redis://:topsecret@h:1/0?tls=1', /query and fragment are not supported/],
      ['not a url :topsecret@', /is not a URL/],
      ['redis://:topsecret@h:99999', /is not a URL/],
    ];
    for (const [url, message] of cases) {
      let caught: Error | undefined;
      try {
        parseRedisLocation({ url });
      } catch (error) {
        caught = error as Error;
      }
      expect(caught?.message).toMatch(message);
      expect(caught?.message).not.toContain('topsecret');
    }
    expect(() => parseRedisLocation({ url: `redis://h/${'0'.repeat(3000)}` })).toThrow(/3010 characters; at most 2048/);
  });

  it('validates prefixes: printable ASCII without spaces, at most 64 characters', () => {
    expect(validatePrefix('emms:')).toBe('emms:');
    expect(() => validatePrefix('')).toThrow('options.redis.prefix="" must be 1 to 64 printable ASCII characters without spaces');
    expect(() => validatePrefix('a b')).toThrow(/prefix="a b"/);
    expect(() => validatePrefix('é')).toThrow(/prefix="é"/);
    expect(() => validatePrefix('x'.repeat(65))).toThrow(/must be 1 to 64/);
  });

  it('scrubs the password from any text', () => {
    const { settings } = parseRedisLocation({ url: 'redis://:hunter2@h:1' });
    expect(scrubSecret('AUTH hunter2 failed, hunter2', settings)).toBe('AUTH *** failed, ***');
    expect(scrubSecret('nothing', parseRedisLocation({ url: 'redis://h:1' }).settings)).toBe('nothing');
  });
});
