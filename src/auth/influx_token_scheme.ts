/**
 * InfluxDB 2.x clients authenticate with `Authorization: Token <token>` (Telegraf's
 * outputs.influxdb_v2 sends its `token` setting so, and cannot be told to send Bearer). Routes
 * that speak InfluxDB's write protocol (RouteDefinition.acceptsTokenScheme) read that scheme
 * as Bearer, so the same EMMS API key works unchanged; every other route keeps Bearer only.
 */

const TOKEN_SCHEME = 'token ';

/** `Token <t>` (scheme case-insensitive, RFC 7235) as `Bearer <t>`; any other header as it is. */
export function influxTokenAsBearer(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length <= TOKEN_SCHEME.length) return authorization;
  if (authorization.slice(0, TOKEN_SCHEME.length).toLowerCase() !== TOKEN_SCHEME) return authorization;
  return `Bearer ${authorization.slice(TOKEN_SCHEME.length)}`;
}
