/**
 * Prometheus remote write as a decode-worker codec (src/ingest/protocol_codec.ts): snappy,
 * protobuf and validation (remote_write_decoder.ts) run in a decode worker, and the main
 * thread receives columns of (series number, timestamp, value). Loaded by module URL
 * (interop_codecs.ts). Options: `maxDecompressedBytes`, `maxSeries`, `maxSamples`. Refusals
 * carry the body's `field` and their status (400, or 413 past a limit).
 */
import { CodecRefusedError, type CodecNumbering, type CodecOptions, type ProtocolCodec } from '../ingest/protocol_codec.js';
import { RemoteWriteError, decodeRemoteWrite } from './remote_write_decoder.js';
import { ColumnSizing, type LineSeriesEntry, type SeriesNumbering } from './series_numbering.js';

/** A tenant's cache: label bytes of a series → its series number; column sizing. */
interface RemoteWriteState {
  keyed: Map<string, number>;
  lines: Map<string, LineSeriesEntry>;
  sizing: ColumnSizing;
}

/** Entries kept per tenant at most; past it the cache starts over (a client inventing series). */
const MAX_CACHED_SERIES = 1_000_000;

export const codec: ProtocolCodec<RemoteWriteState> = {
  createState: () => ({ keyed: new Map(), lines: new Map(), sizing: new ColumnSizing() }),
  decode(bytes: Uint8Array, options: CodecOptions, numbering: CodecNumbering, state: RemoteWriteState) {
    if (state.keyed.size > MAX_CACHED_SERIES) state.keyed.clear();
    const series: SeriesNumbering = { lines: state.lines, keyed: state.keyed, add: (identity) => numbering.add(identity), get size() { return numbering.size; } };
    const maxSamples = Number(options.maxSamples);
    try {
      const d = decodeRemoteWrite(bytes, {
        maxDecompressedBytes: Number(options.maxDecompressedBytes),
        maxSeries: Number(options.maxSeries),
        maxSamples,
      }, series, state.sizing.expected(bytes.byteLength, maxSamples));
      state.sizing.observe(bytes.byteLength, d.samples);
      return { seriesOf: d.seriesOf, timestamps: d.timestamps, values: d.values, counts: { skippedNonFinite: d.skippedNonFinite } };
    } catch (err) {
      if (err instanceof RemoteWriteError) throw new CodecRefusedError(err.status, err.message, { field: err.field });
      throw err;
    }
  },
};
