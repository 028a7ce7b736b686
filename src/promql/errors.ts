/**
 * The errors of the PromQL subset, each mapped to the answer Prometheus gives for it
 * (`web/api/v1/api.go`): a syntax or type error is `bad_data` (400), a failure while
 * evaluating is `execution` (422), a query past its deadline is `timeout` (503). A function
 * Prometheus knows but EMMS does not evaluate is `execution` (422) too, naming the function,
 * so a client never gets a wrong answer for it.
 */

/** Syntax or type error; `pos` is the character offset in the expression. */
export class PromQLSyntaxError extends Error {
  constructor(
    readonly detail: string,
    readonly pos: number,
  ) {
    super(`parse error at char ${pos + 1}: ${detail}`);
    this.name = 'PromQLSyntaxError';
  }
}

/** Valid PromQL that EMMS does not evaluate. */
export class PromQLUnsupportedError extends Error {
  constructor(readonly feature: string) {
    super(`unsupported by EMMS's PromQL subset: ${feature} (see docs/promql.md)`);
    this.name = 'PromQLUnsupportedError';
  }
}

/** A failure while evaluating: a limit passed, duplicate series, many-to-many matching. */
export class PromQLExecutionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PromQLExecutionError';
  }
}

/** The evaluation deadline passed. */
export class PromQLTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`query timed out in expression evaluation (timeout ${timeoutMs} ms)`);
    this.name = 'PromQLTimeoutError';
  }
}
