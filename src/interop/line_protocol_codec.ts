/**
 * Line protocol as a decode-worker codec (src/ingest/protocol_codec.ts): the UTF-8 check and
 * the parse (line_protocol_parser.ts, from the bytes, in pieces) run in a decode worker, and
 * the main thread receives columns of (series number, timestamp, value). Loaded by module URL
 * (interop_codecs.ts). Options: `precision` (a LinePrecision) and `maxPoints`. Refusals carry
 * the 400 body's `line` and `column`.
 */
import { isUtf8 } from 'node:buffer';
import { CodecRefusedError, type CodecNumbering, type CodecOptions, type ProtocolCodec } from '../ingest/protocol_codec.js';
import { LineProtocolError, parseLineProtocolBytes, type LinePrecision } from './line_protocol_parser.js';
import { ColumnSizing, type LineSeriesEntry, type SeriesNumbering } from './series_numbering.js';

/** A tenant's caches: measurement-and-tags text → its fields' series numbers; column sizing. */
interface LineState {
  lines: Map<string, LineSeriesEntry>;
  keyed: Map<string, number>;
  sizing: ColumnSizing;
}

/** Entries kept per tenant at most; past it the cache starts over (a client inventing series). */
const MAX_CACHED_LINES = 200_000;

export const codec: ProtocolCodec<LineState> = {
  createState: () => ({ lines: new Map(), keyed: new Map(), sizing: new ColumnSizing() }),
  decode(bytes: Uint8Array, options: CodecOptions, numbering: CodecNumbering, state: LineState, nowMs: number) {
    // Checked whole, here, so the parser may decode the body in pieces (parseLineProtocolBytes).
    if (!isUtf8(bytes)) throw new CodecRefusedError(400, 'the body is not valid UTF-8 text');
    if (state.lines.size > MAX_CACHED_LINES) state.lines.clear();
    const series: SeriesNumbering = { lines: state.lines, keyed: state.keyed, add: (identity) => numbering.add(identity), get size() { return numbering.size; } };
    const maxPoints = Number(options.maxPoints);
    try {
      const r = parseLineProtocolBytes(bytes, { precision: options.precision as LinePrecision, nowMs, maxPoints }, series, state.sizing.expected(bytes.byteLength, maxPoints));
      state.sizing.observe(bytes.byteLength, r.points);
      return { seriesOf: r.seriesOf, timestamps: r.timestamps, values: r.values, counts: { skippedStringFields: r.skippedStringFields } };
    } catch (err) {
      if (err instanceof LineProtocolError) throw new CodecRefusedError(400, err.message, { line: err.line, column: err.column });
      throw err;
    }
  },
};
