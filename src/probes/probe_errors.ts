/**
 * Errors of the prober that the routes turn into HTTP answers (probe_routes.ts). A target of
 * another tenant is "not found", never "forbidden": its existence is not revealed.
 */

export class TargetNotFoundError extends Error {
  constructor(readonly targetId: string) {
    super(`target_id=${JSON.stringify(targetId)} is not a monitored target`);
    this.name = 'TargetNotFoundError';
  }
}

export class TargetConflictError extends Error {
  constructor(readonly targetId: string) {
    super(`target_id=${JSON.stringify(targetId)} already exists`);
    this.name = 'TargetConflictError';
  }
}

/** The server-wide cap on targets (all tenants together) is reached; answered 429 like a quota. */
export class TargetCapacityError extends Error {
  constructor(readonly limit: number) {
    super(`maxTargets=${limit} reached: this server monitors no more targets, whatever the tenant`);
    this.name = 'TargetCapacityError';
  }
}

/** "Check now" within MIN_INTERVAL_SECONDS of the target's previous check; answered 429. */
export class CheckRateLimitedError extends Error {
  constructor(readonly targetId: string, readonly retryAfterMs: number, minGapMs: number) {
    super(`target_id=${JSON.stringify(targetId)} was checked less than ${minGapMs} ms ago; retry in ${retryAfterMs} ms`);
    this.name = 'CheckRateLimitedError';
  }
}
