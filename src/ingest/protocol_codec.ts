/**
 * Other protocols' decoders (InfluxDB line protocol, Prometheus remote write: src/interop/) run
 * in the decode workers next to the native one, as plug-ins: the decode pool is given each
 * codec's module URL (`DecodePoolOptions.codecs`), every worker imports it at start, and a
 * request names the codec by key. This keeps the layers as they are (src/ingest never imports
 * a feature) while the per-point work of every protocol leaves the main thread, which owns the
 * engine's commit.
 *
 * A codec numbers the new series it meets through `numbering`, which takes its numbers from
 * the tenant's own FrameDecoder (frame_decoder.ts): a tenant's series from every protocol share
 * one table in the worker and one mirror SeriesTable on the main thread (decode_pool.ts), so
 * a series is created on the main thread the same way whatever protocol brought it.
 *
 * What crosses threads is structured-clone data only: `options` in, columns (transferred), new
 * series identities, counts and refusals out.
 */
import type { SeriesIdentity } from '../model/api.js';

/** Options of one request, as the codec defines them; must survive structured clone. */
export type CodecOptions = Readonly<Record<string, string | number | boolean>>;

/** Hands out series numbers of the tenant's table for series the codec has not met before. */
export interface CodecNumbering {
  /** Numbers a new series (validated by the codec as far as its protocol requires). */
  add(identity: SeriesIdentity): number;
  /** Series numbered so far in this tenant's table. */
  readonly size: number;
}

export interface CodecBatch {
  /** Point i is (seriesOf[i], timestamps[i], values[i]); each array has a buffer of its own. */
  seriesOf: Int32Array;
  timestamps: Float64Array;
  values: Float64Array;
  /** What the protocol reports besides the points, e.g. `skippedStringFields`. */
  counts: Record<string, number>;
}

/**
 * One protocol's decoder. `State` is what it keeps per tenant between requests (its caches of
 * series already numbered); it is dropped when the tenant's decode state is, and after a
 * refused request that numbered series (their numbers are handed out again).
 */
export interface ProtocolCodec<State = unknown> {
  createState(): State;
  /** Decodes one body; throws CodecRefusedError for anything the client sent wrong. */
  decode(bytes: Uint8Array, options: CodecOptions, numbering: CodecNumbering, state: State, nowMs: number): CodecBatch;
}

/**
 * A request refused by a codec: `status` is the HTTP answer (400, 413 …), `details` the extra
 * fields of the error body that name where (`line`, `column`, `field`).
 */
export class CodecRefusedError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: Readonly<Record<string, string | number>> = {},
  ) {
    super(message);
    this.name = 'CodecRefusedError';
  }
}

/** What a codec module exports: `export const codec: ProtocolCodec = …`. */
export interface CodecModule {
  codec: ProtocolCodec;
}

/** Imports the codec modules named by URL (`name → file URL`); fails naming a bad one. */
export async function loadCodecs(urls: Readonly<Record<string, string>>): Promise<Map<string, ProtocolCodec>> {
  const out = new Map<string, ProtocolCodec>();
  for (const [name, url] of Object.entries(urls)) {
    const mod = (await import(url)) as Partial<CodecModule>;
    const codec = mod.codec;
    if (codec === undefined || typeof codec.decode !== 'function' || typeof codec.createState !== 'function') {
      throw new Error(`decode codec ${name}: ${url} does not export a ProtocolCodec named "codec"`);
    }
    out.set(name, codec);
  }
  return out;
}
