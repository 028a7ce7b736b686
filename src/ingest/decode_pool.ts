/**
 * Main-thread side of the decode workers. Each WebSocket connection is pinned to one worker
 * (its frames decode in order and find their series in a warm table); HTTP bodies go round
 * robin. The main thread mirrors each worker's series table in an engine SeriesTable
 * (src/model/api.ts), so a batch arrives as three transferred typed arrays (series number,
 * timestamp, value per point) plus the descriptors of series it has not seen before, and goes
 * to the engine as it is: no per-point or per-series object on the main thread.
 *
 * Tables are per (worker, tenant): every payload names its tenant, the worker decodes it with
 * that tenant's decoder (tenant_decoders.ts) and the reply lands in that tenant's mirror
 * (tenant_mirrors.ts), which bounds how many tenants a worker keeps state for.
 *
 * Other protocols (line protocol, remote write) decode here too, through codecs the pool loads
 * by module URL (protocol_codec.ts, decodeWithCodec): their series share the tenant's table and
 * mirror with native payloads.
 *
 * `threads: 0` decodes on the calling thread (embedding, tests, and the single-core baseline
 * in bench/server_ingest.bench.ts).
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { SeriesTable } from '../model/api.js';
import { PayloadRefusedError, type DecodedBatch, type PayloadFormat, type RefusalReason } from './frame_decoder.js';
import type { DecodeRequest, DecodeWorkerData, DecodeWorkerReply, ForgetStreamRequest, ForgetTenantRequest } from './decode_protocol.js';
import { runCodec, type CodecDecodeRequest, type CodecReply } from './codec_decoding.js';
import { loadCodecs, type CodecOptions, type ProtocolCodec } from './protocol_codec.js';
import { TenantDecoders } from './tenant_decoders.js';
import { TenantMirrors } from './tenant_mirrors.js';
import type { Seq } from './wire.js';
import type { TimestampPolicy } from './timestamp_precision.js';
import { BufferPool } from '../workers/buffer_pool.js';
import type { EncodedColumns } from '../storage/write_ahead_log.js';

const require = createRequire(import.meta.url);

/** File URL of tsx's ESM `register()` API, read from its package exports. */
function tsxEsmApiUrl(): string {
  const manifestPath = require.resolve('tsx/package.json');
  const manifest = require(manifestPath) as { exports: Record<string, { import: { default: string } }> };
  const entry = manifest.exports['./esm/api']?.import.default;
  if (entry === undefined) throw new Error('tsx does not export ./esm/api; cannot run decode workers from TypeScript sources');
  return pathToFileURL(join(dirname(manifestPath), entry)).href;
}

export type DecodeOutcome =
  | {
      kind: 'series'; seq: Seq | null; points: number;
      /** The mirror of the decoding worker's series table; `seriesOf` numbers index it. */
      table: SeriesTable;
      seriesOf: Int32Array; timestamps: Float64Array; values: Float64Array;
      /** The write-ahead block of timestamps and values the worker made (DecodedBatch.walColumns). */
      walColumns?: EncodedColumns;
    }
  | { kind: 'custom'; seq: Seq | null; handler: string; items: unknown[] }
  | { kind: 'refused'; seq: Seq | null; error: string; reason: RefusalReason; index: number; field: string };

/** What decodeWithCodec resolves with: columns for the tenant's mirror, or the codec's refusal. */
export type CodecOutcome =
  | {
      kind: 'series'; points: number;
      /** The tenant's mirror of the decoding worker's table, where the codec's new series were added. */
      table: SeriesTable;
      seriesOf: Int32Array; timestamps: Float64Array; values: Float64Array;
      counts: Record<string, number>;
    }
  | { kind: 'refused'; status: number; error: string; details: Record<string, string | number> };

export interface DecodePoolOptions {
  threads: number;
  maxPointsPerBatch: number;
  customFrameNames: string[];
  /**
   * A fresh, empty table bound to `tenant`, for each (worker, tenant) pair (and again for a
   * worker's replacement, or a tenant evicted and back): `engine.forTenant(t).createSeriesTable()`.
   */
  createSeriesTable: (tenant: string) => SeriesTable;
  /** Tenants one worker keeps decode state for at most (least recently used go first). Default 256. */
  maxTenantsPerWorker?: number;
  /** A tenant without payloads for this long loses its decode state. Default 10 minutes. */
  tenantIdleMs?: number;
  /** Other protocols' codecs, name → module URL, loaded by every worker (protocol_codec.ts). */
  codecs?: Record<string, string>;
}

const DEFAULT_MAX_TENANTS_PER_WORKER = 256;
const DEFAULT_TENANT_IDLE_MS = 10 * 60_000;

/**
 * Largest frame decodeCopy sends in a reusable buffer (a row-form frame of 1,000 TSBS points is
 * ~150 KB; of 10,000, as bulk loaders send, 1.5–2.5 MB); larger frames get a buffer of their
 * own. Buffers come in power-of-two sizes from MIN_LENT_BUFFER_BYTES, so a frame in flight
 * holds at most twice its size: thousands of agents sending 1 KB frames must not each hold a
 * 256 KiB buffer. The limit was 256 KiB until a profile of the bench:peers load (10,000-point
 * frames) showed `decodeCopy` at 15.5 % of the main thread, each frame taking a fresh buffer;
 * at 4 MiB, `bench/fresh_query.bench.ts`'s ingest of those frames rose by a median 5.6 % over 7
 * alternated rounds (−9 … +14 %, quiet machine, 2026-12-07), for up to 32 MiB more kept.
 */
const MAX_LENT_FRAME_BYTES = 4 * 1024 * 1024;
const MIN_LENT_BUFFER_BYTES = 4096;
/**
 * Bytes of returned buffers kept for reuse, at most; the rest are left to the collector. 16 MiB
 * are the warm-up's 64 small buffers (src/server/warm_up.ts); the rest holds eight 4 MiB ones,
 * the large frames two bulk connections keep in flight.
 */
const MAX_POOLED_BYTES = 48 * 1024 * 1024;

/** Size class of the reusable buffer for a frame of `bytes` bytes. */
function lentBufferBytes(bytes: number): number {
  let size = MIN_LENT_BUFFER_BYTES;
  while (size < bytes) size *= 2;
  return size;
}

interface Pending {
  /** Takes a CodecOutcome instead for a codec request (settleCodec). */
  resolve: (outcome: DecodeOutcome) => void;
  reject: (err: Error) => void;
  /** The tenant's mirror when the request was sent: its reply's series numbers index it. */
  table: SeriesTable;
}

interface WorkerSlot {
  worker: Worker;
  pending: Map<number, Pending>;
  mirrors: TenantMirrors;
  /** Column buffers given back (giveBackColumns), to ride to the worker with its next request. */
  givenBack: ArrayBuffer[];
}

/**
 * Column buffers waiting for a worker's next request, at most: a connection's frames in flight
 * times three columns, for a few connections. Beyond it they are left to the collector.
 */
const MAX_GIVEN_BACK_BUFFERS = 48;

export class DecodePool {
  readonly #options: DecodePoolOptions;
  readonly #slots: WorkerSlot[] = [];
  #inline: { decoders: TenantDecoders; mirrors: TenantMirrors; codecs: Map<string, ProtocolCodec> } | undefined;
  /** Frame buffers back from the workers, for decodeCopy to fill again. */
  readonly #lendable = new BufferPool<ArrayBuffer>(MAX_POOLED_BYTES);
  #nextId = 1;
  #roundRobin = 0;
  #closing = false;

  constructor(options: DecodePoolOptions) {
    if (!Number.isInteger(options.threads) || options.threads < 0) {
      throw new RangeError(`decode threads must be a non-negative integer; got ${String(options.threads)}`);
    }
    this.#options = options;
  }

  get threads(): number {
    return this.#options.threads;
  }

  async start(): Promise<void> {
    if (this.#options.threads === 0) {
      const decoders = new TenantDecoders({ maxPointsPerBatch: this.#options.maxPointsPerBatch, customFrameNames: this.#options.customFrameNames });
      const codecs = await loadCodecs(this.#options.codecs ?? {});
      this.#inline = { decoders, mirrors: this.#mirrors((tenant) => decoders.forgetTenant(tenant)), codecs };
      return;
    }
    const started: Promise<void>[] = [];
    for (let i = 0; i < this.#options.threads; i++) started.push(this.#spawn(i));
    await Promise.all(started);
  }

  #mirrors(onEvict: (tenant: string) => void): TenantMirrors {
    return new TenantMirrors({
      createSeriesTable: this.#options.createSeriesTable,
      maxTenants: this.#options.maxTenantsPerWorker ?? DEFAULT_MAX_TENANTS_PER_WORKER,
      idleMs: this.#options.tenantIdleMs ?? DEFAULT_TENANT_IDLE_MS,
      onEvict,
    });
  }

  /** Tenants with decode state on worker `workerIndex` (or inline), for tests and diagnostics. */
  tenantsOn(workerIndex: number): number {
    if (this.#inline !== undefined) return this.#inline.mirrors.size;
    return this.#slots[workerIndex % Math.max(1, this.#slots.length)]?.mirrors.size ?? 0;
  }

  #spawn(index: number): Promise<void> {
    const fromSource = import.meta.url.endsWith('.ts');
    const filename = fileURLToPath(new URL(`./decode_worker.${fromSource ? 'ts' : 'js'}`, import.meta.url));
    const workerData: DecodeWorkerData = {
      maxPointsPerBatch: this.#options.maxPointsPerBatch,
      customFrameNames: this.#options.customFrameNames,
      ...(this.#options.codecs === undefined ? {} : { codecs: this.#options.codecs }),
    };
    const worker = fromSource
      ? // From src/ (tests, tsx) the worker is TypeScript: register tsx's loader inside the
        // worker first. (`execArgv: ['--import', 'tsx']` is not honoured for workers started
        // under vitest's fork pool.)
        new Worker(
          `import(${JSON.stringify(tsxEsmApiUrl())})` +
            `.then((m) => { m.register(); return import(${JSON.stringify(pathToFileURL(filename).href)}); })`,
          { eval: true, workerData },
        )
      : new Worker(filename, { workerData });
    const slot: WorkerSlot = {
      worker,
      pending: new Map(),
      // A replacement starts with no decoders; so do its mirrors.
      mirrors: this.#mirrors((tenant) => worker.postMessage({ forgetTenant: tenant } satisfies ForgetTenantRequest)),
      givenBack: [],
    };
    this.#slots[index] = slot;
    let ready: () => void = () => undefined;
    const readyPromise = new Promise<void>((resolve) => {
      ready = resolve;
    });
    worker.on('message', (reply: DecodeWorkerReply | 'ready') => {
      if (reply === 'ready') ready();
      else this.#onReply(slot, reply);
    });
    const failAll = (err: Error): void => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
    };
    worker.on('error', (err) => failAll(new Error(`decode worker ${index} failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      failAll(new Error(`decode worker ${index} exited with code ${code}`));
      if (!this.#closing) void this.#spawn(index).catch(() => undefined);
    });
    // 'online' fires before a TypeScript worker has loaded its module; wait for its own signal.
    return new Promise((resolve, reject) => {
      void readyPromise.then(resolve);
      worker.once('error', reject);
    });
  }

  /** Worker index for a new connection. */
  pickWorker(): number {
    const n = Math.max(1, this.#options.threads);
    this.#roundRobin = (this.#roundRobin + 1) % n;
    return this.#roundRobin;
  }

  /**
   * Decodes on worker `workerIndex` with `tenant`'s series table. The bytes' buffer is
   * transferred to the worker, so the caller must not use it afterwards. Refusals resolve
   * (kind `refused`); only a broken worker rejects.
   */
  decode(workerIndex: number, bytes: Uint8Array, format: PayloadFormat, requireSeq: boolean, tenant: string, stream = 0, policy?: TimestampPolicy): Promise<DecodeOutcome> {
    if (this.#inline !== undefined) return Promise.resolve(this.#decodeInline(bytes, format, requireSeq, tenant, stream, policy));
    const slot = this.#slots[workerIndex % this.#slots.length];
    if (slot === undefined) return Promise.reject(new Error('decode pool is not started'));
    const id = this.#nextId++;
    const req: DecodeRequest = { id, format, requireSeq, tenant, stream, bytes, ...(policy === undefined ? {} : { policy }) };
    const transfer = [bytes.buffer as ArrayBuffer];
    attachGivenBack(slot, req, transfer);
    const table = slot.mirrors.tableFor(tenant);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, table });
      slot.worker.postMessage(req, transfer);
    });
  }

  /**
   * Decodes a copy of `view`, which may be memory the caller only borrows (a uWebSockets.js
   * frame): the copy is made before this returns, and it is what moves to the worker.
   *
   * A frame of up to MAX_LENT_FRAME_BYTES is copied into a buffer of this pool's own, which moves
   * to the worker and comes back with the reply: in steady state neither thread allocates or
   * copies anything else for it. Structured clone, used before, copied each frame twice, into
   * the message and out of it in the worker, and took 8–14% of the main thread in row-form
   * profiles. Allocating a fresh ArrayBuffer per small frame instead was worse: every one
   * counts towards the external memory that makes V8 collect garbage on the thread that
   * acknowledges batches.
   *
   * A larger frame is copied once into a fresh buffer that moves to the worker. Structured
   * clone, used for them until 2026-12-07, cost 5–6 ms of the main thread per 2.5 MB frame
   * (10,000 TSBS rows with their ten tags, the peers bench's frame) against 1.0–1.6 ms for a
   * copy and a transfer (microbenchmark at load 18); on the peers workload the server's CPU per
   * point fell from 1.78 to 1.44–1.60 µs (two runs each, shared machine).
   *
   * A ring of shared memory per worker was tried too: copying into and out of it cost ~5% of
   * both threads, and row-form ingest dropped from 1.45 to 1.34 M points/s (mean of 4 runs
   * each).
   */
  decodeCopy(workerIndex: number, view: Uint8Array, format: PayloadFormat, requireSeq: boolean, tenant: string, stream = 0): Promise<DecodeOutcome> {
    if (this.#inline !== undefined) return this.decode(workerIndex, view.slice(), format, requireSeq, tenant, stream);
    const slot = this.#slots[workerIndex % this.#slots.length];
    if (slot === undefined) return Promise.reject(new Error('decode pool is not started'));
    const id = this.#nextId++;
    let req: DecodeRequest;
    let transfer: ArrayBuffer[] = [];
    if (view.byteLength <= MAX_LENT_FRAME_BYTES) {
      const size = lentBufferBytes(view.byteLength);
      const buffer = this.#lendable.take(size) ?? new ArrayBuffer(size);
      const bytes = new Uint8Array(buffer, 0, view.byteLength);
      bytes.set(view);
      req = { id, format, requireSeq, tenant, stream, bytes, lent: true };
      transfer = [buffer];
    } else {
      return this.decode(workerIndex, view.slice(), format, requireSeq, tenant, stream);
    }
    attachGivenBack(slot, req, transfer);
    const table = slot.mirrors.tableFor(tenant);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve, reject, table });
      slot.worker.postMessage(req, transfer);
    });
  }

  /**
   * Decodes a body of another protocol with codec `codec` (DecodePoolOptions.codecs) on worker
   * `workerIndex`, numbering new series in `tenant`'s table as the native decoder does. The
   * bytes' buffer is transferred. Refusals resolve (kind `refused`); a codec failing on
   * something other than the client's input, or a broken worker, rejects.
   */
  decodeWithCodec(workerIndex: number, bytes: Uint8Array, codec: string, options: CodecOptions, tenant: string): Promise<CodecOutcome> {
    const id = this.#nextId++;
    const req: CodecDecodeRequest = { id, codec, tenant, bytes, options };
    if (this.#inline !== undefined) {
      const inline = this.#inline;
      const table = inline.mirrors.tableFor(tenant);
      return new Promise((resolve, reject) => {
        settleCodec(runCodec(inline.codecs.get(codec), inline.decoders.get(tenant), req, Date.now()), { resolve: resolve as unknown as Pending['resolve'], reject, table });
      });
    }
    const slot = this.#slots[workerIndex % this.#slots.length];
    if (slot === undefined) return Promise.reject(new Error('decode pool is not started'));
    const table = slot.mirrors.tableFor(tenant);
    return new Promise((resolve, reject) => {
      slot.pending.set(id, { resolve: resolve as unknown as Pending['resolve'], reject, table });
      slot.worker.postMessage(req, [bytes.buffer as ArrayBuffer]);
    });
  }

  /**
   * Gives the columns of a stored batch back to the worker that decoded them, for its next
   * frames (column_buffers.ts); they travel with that worker's next request. The caller must
   * hold no reference into them any more: call it once the batch was stored (its commit
   * resolved), when the engine has copied the points into heads and the write-ahead record.
   * Columns that do not each own a whole buffer are left alone.
   */
  giveBackColumns(workerIndex: number, outcome: Extract<DecodeOutcome, { kind: 'series' }>): void {
    if (this.#inline !== undefined) return;
    const slot = this.#slots[workerIndex % Math.max(1, this.#slots.length)];
    if (slot === undefined) return;
    const columns = [outcome.seriesOf, outcome.timestamps, outcome.values];
    for (let i = 0; i < columns.length; i++) {
      const column = columns[i]!;
      const buffer = column.buffer as ArrayBuffer;
      if (column.byteOffset !== 0 || column.byteLength !== buffer.byteLength || buffer.byteLength === 0) continue;
      // Two columns in one buffer (no decoder does that today) must not be given back twice.
      if (i > 0 && columns.slice(0, i).some((c) => c.buffer === buffer)) continue;
      if (slot.givenBack.length >= MAX_GIVEN_BACK_BUFFERS) return;
      slot.givenBack.push(buffer);
    }
  }

  /** The connection `stream` of `tenant` (decoded on `workerIndex`) closed. */
  forgetStream(workerIndex: number, tenant: string, stream: number): void {
    if (this.#inline !== undefined) {
      this.#inline.decoders.forgetStream(tenant, stream);
      return;
    }
    const slot = this.#slots[workerIndex % Math.max(1, this.#slots.length)];
    slot?.worker.postMessage({ forget: stream, tenant } satisfies ForgetStreamRequest);
  }

  #decodeInline(bytes: Uint8Array, format: PayloadFormat, requireSeq: boolean, tenant: string, stream: number, policy?: TimestampPolicy): DecodeOutcome {
    const inline = this.#inline!;
    try {
      const table = inline.mirrors.tableFor(tenant);
      const out = inline.decoders.get(tenant).decode(bytes, format, requireSeq, Date.now(), stream, policy);
      if ('handler' in out) return { kind: 'custom', seq: out.seq, handler: out.handler, items: out.items };
      return toOutcome(out, table);
    } catch (err) {
      if (err instanceof PayloadRefusedError) {
        return { kind: 'refused', seq: err.seq, error: err.message, reason: err.reason, index: err.index, field: err.field };
      }
      return { kind: 'refused', seq: null, error: `decoder failed: ${(err as Error).message}`, reason: 'decode', index: -1, field: '' };
    }
  }

  #onReply(slot: WorkerSlot, reply: DecodeWorkerReply): void {
    if (isCodecReply(reply)) {
      const pending = slot.pending.get(reply.id);
      if (pending === undefined) return;
      slot.pending.delete(reply.id);
      settleCodec(reply, pending);
      return;
    }
    if (reply.frameBuffer !== undefined) this.#lendable.give(reply.frameBuffer);
    const pending = slot.pending.get(reply.id);
    if (pending === undefined) return;
    slot.pending.delete(reply.id);
    if (!reply.ok) {
      pending.resolve({ kind: 'refused', seq: reply.seq, error: reply.error, reason: reply.reason, index: reply.index, field: reply.field });
    } else if ('custom' in reply) {
      pending.resolve({ kind: 'custom', seq: reply.custom.seq, handler: reply.custom.handler, items: reply.custom.items });
    } else {
      pending.resolve(toOutcome(reply.batch, pending.table));
    }
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
    this.#slots.length = 0;
  }
}

/** Mirrors the batch's new series into the table (in reply order, as the worker numbered them). */
function toOutcome(batch: DecodedBatch, table: SeriesTable): DecodeOutcome {
  for (const d of batch.newSeries) table.add(d);
  const outcome: DecodeOutcome = { kind: 'series', seq: batch.seq, points: batch.points, table, seriesOf: batch.seriesOf, timestamps: batch.timestamps, values: batch.values };
  if (batch.walColumns !== undefined) outcome.walColumns = batch.walColumns;
  return outcome;
}

/** Moves the slot's given-back column buffers into `req` and its transfer list. */
function attachGivenBack(slot: WorkerSlot, req: DecodeRequest, transfer: ArrayBuffer[]): void {
  if (slot.givenBack.length === 0) return;
  req.columnBuffers = slot.givenBack;
  slot.givenBack = [];
  for (const buffer of req.columnBuffers) transfer.push(buffer);
}

function isCodecReply(reply: DecodeWorkerReply): reply is CodecReply {
  return 'codec' in reply || 'codecRefusal' in reply || 'codecFailure' in reply;
}

/** Mirrors the codec's new series (in the order the worker numbered them) and settles the request. */
function settleCodec(reply: CodecReply, pending: Pending): void {
  const resolve = pending.resolve as unknown as (outcome: CodecOutcome) => void;
  if (reply.ok) {
    const c = reply.codec;
    for (const identity of c.newSeries) pending.table.add(identity);
    resolve({ kind: 'series', points: c.points, table: pending.table, seriesOf: c.seriesOf, timestamps: c.timestamps, values: c.values, counts: c.counts });
  } else if ('codecRefusal' in reply) {
    resolve({ kind: 'refused', status: reply.codecRefusal.status, error: reply.codecRefusal.error, details: reply.codecRefusal.details });
  } else {
    pending.reject(new Error(reply.codecFailure));
  }
}
