/**
 * EMMS's own instrumentation, exposed on GET /metrics. Counters and histograms are plain
 * numbers updated on the hot path (no allocation per update); storage and process figures
 * are read at scrape time.
 *
 * Requests are tallied once, in the ApiStatsRecorder (src/collectors/api_stats.ts) the server
 * records every answer into: `emms_http_requests_total` is rendered from it here, and the
 * `application.api.*` collector reads the same recorder.
 */
import { ApiStatsRecorder } from '../collectors/api_stats.js';
import type { StorageStats } from '../model/api.js';
import type { IngestRefusalReason } from '../ingest/collect_decoded.js';
import { PROMETHEUS_CONTENT_TYPE, familyHeader, sampleLine } from './prometheus_text.js';

export { PROMETHEUS_CONTENT_TYPE };

export type Transport = 'ws' | 'http';
/** Every label value of emms_nacks_total, pre-declared so the family always has all series. */
export type NackReason = IngestRefusalReason | 'not_binary' | 'storage' | 'shutdown' | 'handler';
const NACK_REASONS: readonly NackReason[] = ['decode', 'validation', 'empty', 'too_large', 'shape', 'quota', 'not_binary', 'storage', 'shutdown', 'handler'];

/** Bucket upper bounds in seconds: 0.5 ms … 10 s, enough resolution around the 50 ms p99 target. */
const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram {
  readonly counts = new Float64Array(LATENCY_BUCKETS_S.length + 1);
  sum = 0;
  count = 0;

  observe(seconds: number): void {
    let i = 0;
    while (i < LATENCY_BUCKETS_S.length && seconds > LATENCY_BUCKETS_S[i]!) i++;
    this.counts[i]!++;
    this.sum += seconds;
    this.count++;
  }

  render(name: string, help: string): string {
    let out = familyHeader(name, 'histogram', help);
    let cumulative = 0;
    for (let i = 0; i < LATENCY_BUCKETS_S.length; i++) {
      cumulative += this.counts[i]!;
      out += sampleLine(`${name}_bucket`, { le: String(LATENCY_BUCKETS_S[i]) }, cumulative);
    }
    out += sampleLine(`${name}_bucket`, { le: '+Inf' }, this.count);
    out += sampleLine(`${name}_sum`, {}, this.sum);
    out += sampleLine(`${name}_count`, {}, this.count);
    return out;
  }
}

export class SelfMetrics {
  readonly points: Record<Transport, number> = { ws: 0, http: 0 };
  readonly batches: Record<Transport, number> = { ws: 0, http: 0 };
  readonly nacks = new Map<NackReason, number>(NACK_REASONS.map((r) => [r, 0]));
  readonly ingestToAck = new Histogram();
  readonly queryLatency = new Histogram();
  /** Every answered request and stream frame; shared with the `application.api.*` collector when the app passes one. */
  readonly requests: ApiStatsRecorder;
  wsConnections = 0;
  wsConnectionsCutOff = 0;
  readonly #startSeconds = Date.now() / 1000 - process.uptime();

  constructor(requests: ApiStatsRecorder = new ApiStatsRecorder()) {
    this.requests = requests;
  }

  countNack(reason: NackReason): void {
    this.nacks.set(reason, (this.nacks.get(reason) ?? 0) + 1);
  }

  render(storage: StorageStats | undefined): string {
    let out = '';
    out += familyHeader('emms_points_ingested_total', 'counter', 'Points acknowledged as durable, by transport.');
    for (const t of ['ws', 'http'] as const) out += sampleLine('emms_points_ingested_total', { transport: t }, this.points[t]);
    out += familyHeader('emms_batches_ingested_total', 'counter', 'Frames and requests acknowledged as durable, by transport.');
    for (const t of ['ws', 'http'] as const) out += sampleLine('emms_batches_ingested_total', { transport: t }, this.batches[t]);
    out += familyHeader('emms_nacks_total', 'counter', 'Refused frames and requests, by reason.');
    for (const [reason, n] of this.nacks) out += sampleLine('emms_nacks_total', { reason }, n);
    out += familyHeader('emms_ws_connections', 'gauge', 'Open WebSocket stream connections.');
    out += sampleLine('emms_ws_connections', {}, this.wsConnections);
    out += familyHeader('emms_ws_connections_cut_off_total', 'counter', 'Stream connections closed for passing the unacknowledged-data bound.');
    out += sampleLine('emms_ws_connections_cut_off_total', {}, this.wsConnectionsCutOff);
    out += familyHeader('emms_http_requests_total', 'counter', 'HTTP requests answered, by route and status code.');
    for (const a of this.requests.answers()) out += sampleLine('emms_http_requests_total', { route: a.route, code: String(a.status) }, a.count);
    if (storage !== undefined) {
      out += familyHeader('emms_series', 'gauge', 'Stored series.') + sampleLine('emms_series', {}, storage.series);
      out += familyHeader('emms_chunks', 'gauge', 'Stored chunks.') + sampleLine('emms_chunks', {}, storage.chunks);
      out += familyHeader('emms_head_points', 'gauge', 'Points held in open heads, not yet cut into chunks.') + sampleLine('emms_head_points', {}, storage.headPoints);
      out += familyHeader('emms_wal_bytes', 'gauge', 'Bytes of write-ahead records not yet checkpointed into chunks.') + sampleLine('emms_wal_bytes', {}, storage.walBytes);
      out += familyHeader('emms_disk_bytes', 'gauge', 'Bytes of every database file.') + sampleLine('emms_disk_bytes', {}, storage.diskBytes);
      const r = storage.rollups;
      if (r !== undefined) {
        // Rollups (src/storage/rollup/rollup_store.ts): memory, and chunks queries answered with and without them.
        out += familyHeader('emms_rollup_bytes', 'gauge', 'Memory held by rollups (partial aggregates of chunks at 5 min and 1 h).') + sampleLine('emms_rollup_bytes', {}, r.bytes);
        out += familyHeader('emms_rollup_budget_bytes', 'gauge', 'Rollup memory budget (query.rollup_memory_mb).') + sampleLine('emms_rollup_budget_bytes', {}, r.budgetBytes);
        out += familyHeader('emms_rollup_chunks', 'gauge', 'Chunks with rollups held.') + sampleLine('emms_rollup_chunks', {}, r.chunks);
        out += familyHeader('emms_rollup_hits_total', 'counter', 'Chunks queries answered from rollups instead of decoding.') + sampleLine('emms_rollup_hits_total', {}, r.hits);
        out += familyHeader('emms_rollup_misses_total', 'counter', 'Chunks queries could have answered from rollups but decoded (none held yet).') + sampleLine('emms_rollup_misses_total', {}, r.misses);
        out += familyHeader('emms_rollup_evictions_total', 'counter', 'Rollups dropped to stay within the memory budget.') + sampleLine('emms_rollup_evictions_total', {}, r.evicted);
      }
      const m = storage.maintenance;
      if (m !== undefined) {
        out += familyHeader('emms_pending_cuts', 'gauge', 'Cut heads whose chunks are being encoded or wait to be committed.') + sampleLine('emms_pending_cuts', {}, m.pendingCuts);
        out += familyHeader('emms_pending_cut_points', 'gauge', 'Points held in memory by cut heads whose chunks have not landed.') + sampleLine('emms_pending_cut_points', {}, m.pendingCutPoints);
        out += familyHeader('emms_cuts_encoded_by_writer_total', 'counter', 'Cuts the writer thread encoded itself because the chunk encoder thread had fallen behind.');
        out += sampleLine('emms_cuts_encoded_by_writer_total', {}, m.cutsEncodedByWriter);
        out += familyHeader('emms_storage_maintenance_running', 'gauge', 'Background storage work running, by kind (1 = running).');
        out += sampleLine('emms_storage_maintenance_running', { kind: 'checkpoint' }, m.checkpointRunning ? 1 : 0);
        out += sampleLine('emms_storage_maintenance_running', { kind: 'compaction' }, m.compactionRunning ? 1 : 0);
        out += familyHeader('emms_storage_maintenance_failures_total', 'counter', 'Background storage steps that failed, by part (chunk encoder thread, SQLite).');
        out += sampleLine('emms_storage_maintenance_failures_total', { part: 'encoder' }, m.encoderFailures);
        out += sampleLine('emms_storage_maintenance_failures_total', { part: 'sqlite' }, m.failures);
        if (m.settled !== undefined) {
          // Settling after ingest goes quiet (src/storage/settle_policy.ts).
          out += familyHeader('emms_storage_settled', 'gauge', 'Ingest is quiet and nothing is left to cut, checkpoint or compact (1 = settled).') + sampleLine('emms_storage_settled', {}, m.settled ? 1 : 0);
          out += familyHeader('emms_storage_last_settled_timestamp_seconds', 'gauge', 'When settling last finished (0 = never).') + sampleLine('emms_storage_last_settled_timestamp_seconds', {}, (m.lastSettledAtMs ?? 0) / 1000);
          out += familyHeader('emms_storage_heads_to_settle', 'gauge', 'Heads settling would cut, now or once their series are idle long enough.') + sampleLine('emms_storage_heads_to_settle', {}, m.headsToSettle ?? 0);
          out += familyHeader('emms_head_bytes', 'gauge', 'Memory holding head and pending-cut points.') + sampleLine('emms_head_bytes', {}, m.headBytes ?? 0);
          out += familyHeader('emms_wal_oldest_record_age_seconds', 'gauge', 'Age of the oldest write-ahead record (0 when there is none).') + sampleLine('emms_wal_oldest_record_age_seconds', {}, (m.walOldestAgeMs ?? 0) / 1000);
          out += familyHeader('emms_storage_compaction_backlog_series', 'gauge', 'Series a compaction still has to look at.') + sampleLine('emms_storage_compaction_backlog_series', {}, m.compactionBacklog ?? 0);
          out += familyHeader('emms_ingest_recent_points_per_second', 'gauge', 'Points committed per second over the settle policy\'s quiet window.') + sampleLine('emms_ingest_recent_points_per_second', {}, m.recentPointsPerSecond ?? 0);
        }
      }
    }
    out += this.ingestToAck.render('emms_ingest_ack_seconds', 'Time from receiving a frame or request to acknowledging it.');
    out += this.queryLatency.render('emms_query_seconds', 'Time to answer a query request.');
    const cpu = process.cpuUsage();
    const mem = process.memoryUsage();
    out += familyHeader('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.');
    out += sampleLine('process_cpu_seconds_total', {}, (cpu.user + cpu.system) / 1e6);
    out += familyHeader('process_cpu_user_seconds_total', 'counter', 'User CPU time spent in seconds.');
    out += sampleLine('process_cpu_user_seconds_total', {}, cpu.user / 1e6);
    out += familyHeader('process_cpu_system_seconds_total', 'counter', 'System CPU time spent in seconds.');
    out += sampleLine('process_cpu_system_seconds_total', {}, cpu.system / 1e6);
    out += familyHeader('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.');
    out += sampleLine('process_resident_memory_bytes', {}, mem.rss);
    out += familyHeader('process_heap_bytes', 'gauge', 'V8 heap in use, in bytes.');
    out += sampleLine('process_heap_bytes', {}, mem.heapUsed);
    out += familyHeader('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.');
    out += sampleLine('process_start_time_seconds', {}, Math.round(this.#startSeconds));
    return out;
  }
}
