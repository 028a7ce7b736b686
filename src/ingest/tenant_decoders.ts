/**
 * Decode state per tenant. A decoder numbers the series it sees and the main thread mirrors
 * those numbers in an engine SeriesTable bound to one tenant (decode_pool.ts), so one decoder
 * must never see two tenants' series: a decode worker keeps one FrameDecoder per tenant, created
 * on the tenant's first payload and dropped when the main thread says so (it bounds how many
 * tenants a worker holds and evicts idle ones, DecodePool's TenantMirrors).
 */
import { FrameDecoder, type FrameDecoderOptions } from './frame_decoder.js';

export class TenantDecoders {
  readonly #options: FrameDecoderOptions;
  readonly #decoders = new Map<string, FrameDecoder>();

  constructor(options: FrameDecoderOptions) {
    this.#options = options;
  }

  /** The tenant's decoder, created empty on first use. */
  get(tenant: string): FrameDecoder {
    let decoder = this.#decoders.get(tenant);
    if (decoder === undefined) {
      decoder = new FrameDecoder(this.#options);
      this.#decoders.set(tenant, decoder);
    }
    return decoder;
  }

  /** Drops a tenant's series numbering and stream predictions; its next payload starts afresh. */
  forgetTenant(tenant: string): void {
    this.#decoders.delete(tenant);
  }

  /** The connection `stream` of `tenant` closed. */
  forgetStream(tenant: string, stream: number): void {
    this.#decoders.get(tenant)?.forgetStream(stream);
  }

  /** Tenants holding decode state (for tests: eviction must bound it). */
  get size(): number {
    return this.#decoders.size;
  }
}
