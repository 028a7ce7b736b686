/**
 * Refused authentications into the audit log. Each refusal is one record, except while an
 * address is being rate limited: a client that keeps sending bad credentials then gets one
 * record per address per minute carrying how many refusals it stands for, so a flood of bad
 * requests cannot fill the disk through the audit log.
 */
import type { AuditTrail } from './audit_trail.js';

const SUMMARY_WINDOW_MS = 60_000;
/** Addresses being summarized at once; past it the oldest is dropped (its count is then reported as 0). */
const MAX_TRACKED_ADDRESSES = 10_000;

export class AuthFailureAudit {
  readonly #trail: Pick<AuditTrail, 'record'>;
  readonly #now: () => number;
  /** Per rate-limited address: when its last record was written, and refusals since. */
  readonly #limited = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(trail: Pick<AuditTrail, 'record'>, now: () => number = Date.now) {
    this.#trail = trail;
    this.#now = now;
  }

  record(sourceIp: string, reason: string): void {
    const now = this.#now();
    let suppressed = 0;
    if (reason === 'rate_limited') {
      const entry = this.#limited.get(sourceIp);
      if (entry !== undefined && now - entry.lastMs < SUMMARY_WINDOW_MS) {
        entry.suppressed++;
        return;
      }
      suppressed = entry?.suppressed ?? 0;
      this.#limited.delete(sourceIp);
      if (this.#limited.size >= MAX_TRACKED_ADDRESSES) this.#limited.delete(this.#limited.keys().next().value!);
      this.#limited.set(sourceIp, { lastMs: now, suppressed: 0 });
    }
    this.#trail.record({
      actor: 'anonymous',
      tenant: '*',
      source: sourceIp,
      requestId: '',
      action: 'auth.failure',
      target: '',
      outcome: 'denied',
      detail: suppressed > 0 ? { reason, refusalsSinceLastRecord: suppressed } : { reason },
    });
  }
}
