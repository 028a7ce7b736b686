/** Route flags of the interop write routes: `Authorization: Token <key>` (Telegraf outputs.influxdb_v2) read as Bearer on line protocol only, and no audit record per data batch. */
import { describe, expect, it } from 'vitest';
import { influxTokenAsBearer } from '../../src/auth/influx_token_scheme.js';
import { lineProtocolRoutes } from '../../src/interop/line_protocol_routes.js';
import { remoteWriteRoutes } from '../../src/interop/remote_write_routes.js';

describe('influxTokenAsBearer', () => {
  it('turns the Token scheme (any case) into Bearer and leaves everything else alone', () => {
    expect(influxTokenAsBearer('Token emms_abc')).toBe('Bearer emms_abc');
    expect(influxTokenAsBearer('TOKEN emms_abc')).toBe('Bearer emms_abc');
    expect(influxTokenAsBearer('Bearer emms_abc')).toBe('Bearer emms_abc');
    expect(influxTokenAsBearer('Basic dTpw')).toBe('Basic dTpw');
    expect(influxTokenAsBearer('Token ')).toBe('Token ');
    expect(influxTokenAsBearer('Tokenemms_abc')).toBe('Tokenemms_abc');
    expect(influxTokenAsBearer(undefined)).toBeUndefined();
  });

  it('is enabled on the two line-protocol routes only', () => {
    const sink = {} as never;
    expect(lineProtocolRoutes(sink).map((r) => [r.pattern, r.acceptsTokenScheme])).toEqual([['/write', true], ['/api/v2/write', true]]);
    expect(remoteWriteRoutes(sink).map((r) => r.acceptsTokenScheme)).toEqual([undefined]);
  });

  it('leaves the data routes of line protocol and remote write out of the audit log, as native ingest', () => {
    const sink = {} as never;
    expect([...lineProtocolRoutes(sink), ...remoteWriteRoutes(sink)].map((r) => r.audited)).toEqual([false, false, false]);
  });
});
