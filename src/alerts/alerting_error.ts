/** Raised by the embedded alerting API; the HTTP layer (alert_routes.ts) maps `status` to the response code. */
export class AlertingError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 404 | 409,
  ) {
    super(message);
    this.name = 'AlertingError';
  }
}
