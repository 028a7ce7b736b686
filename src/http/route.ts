/**
 * The contract between the HTTP server (src/server/) and the features that add routes to it
 * (analytics, alerts, keys, probes, auth). A feature exports `xxxRoutes(deps): RouteDefinition[]`;
 * the server mounts them, authenticates the caller, enforces each route's `access`, parses
 * bodies and turns thrown HttpErrors into responses. Features never touch uWebSockets.js, so
 * they are tested by calling handlers directly.
 *
 * This module sits below both the server and the features: it imports nothing of either.
 *
 * Authorization model (README "Security"): every route declares the least role it needs. The
 * server refuses a request before the handler runs unless the caller's principal holds that
 * role in the tenant the request acts on; handlers then scope every read and write to
 * `req.principal.tenant` and never take a tenant from the body or the query.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** Roles within one tenant, weakest first. Each includes the rights of the ones before it. */
export const TENANT_ROLES = ['reader', 'writer', 'admin'] as const;
export type TenantRole = (typeof TENANT_ROLES)[number];
/** `operator` is global: it manages tenants and every tenant's keys, and acts as admin in any tenant. */
export type Role = TenantRole | 'operator';
export const ROLES: readonly Role[] = [...TENANT_ROLES, 'operator'];

/**
 * What a route requires:
 * - `public`: anyone, with or without credentials (`GET /health` status, the dashboard's
 *   sign-in page); the handler sees `principal` when valid credentials were sent anyway;
 * - a role: the caller must hold at least that role in the request's tenant;
 * - `operator`: the global operator role only (tenant management).
 */
export type RouteAccess = 'public' | Role;

export { DEFAULT_TENANT, TENANT_NAME_PATTERN } from '../model/tenant.js';

/** Who is calling, as established by the server's authenticator. */
export interface Principal {
  /** API key id (`ak_…`), JWT subject (`jwt:<sub>`), or `anonymous` when authentication is off. */
  readonly id: string;
  readonly kind: 'api_key' | 'jwt' | 'anonymous';
  readonly role: Role;
  /**
   * The tenant this request acts on: the credential's own tenant; for an operator, the
   * `X-Emms-Tenant` header's tenant when sent, else `default`.
   */
  readonly tenant: string;
  /** When the credential ends, where it says so itself (a JWT's `exp`), in epoch ms. */
  readonly expiresAtMs?: number;
}

const ROLE_RANK: Record<Role, number> = { reader: 1, writer: 2, admin: 3, operator: 4 };

/** True when `role` includes the rights of `required`. */
export function roleAtLeast(role: Role, required: Role): boolean {
  return ROLE_RANK[role] >= ROLE_RANK[required];
}

export interface HttpRequest {
  method: HttpMethod;
  /** Path without query string, e.g. `/api/v1/keys/k1`. */
  path: string;
  /** Values of `:name` segments of the route pattern, URL-decoded. */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /**
   * Parsed body: JSON for `application/json`, MessagePack for `application/msgpack` /
   * `application/x-msgpack`; undefined when there is no body.
   */
  body: unknown;
  /**
   * The body's bytes as they arrived, on routes with `bodyFormat: 'raw'` only (an empty array
   * when there was none); such routes decode and bound it themselves.
   */
  rawBody?: Uint8Array;
  remoteAddress: string;
  /**
   * The authenticated caller. Always set on routes whose access is a role; on `public` routes
   * only when the request carried valid credentials.
   */
  principal: Principal | undefined;
}

/** The principal of a route that requires a role (the server guarantees it is set). */
export function principalOf(req: HttpRequest): Principal {
  if (req.principal === undefined) throw new Error(`BUG: ${req.method} ${req.path} reached its handler without a principal`);
  return req.principal;
}

/** The tenant a request acts on; see Principal.tenant. */
export function tenantOf(req: HttpRequest): string {
  return principalOf(req).tenant;
}

export interface HttpResponseSpec {
  /** Default 200. */
  status?: number;
  /**
   * Who the caller turned out to be, on a public route that establishes it (the dashboard's
   * sign-in): the audit record names them instead of `anonymous`.
   */
  auditPrincipal?: Principal;
  /** Serialised as JSON unless `contentType` says otherwise and it is a string or bytes. */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

export type RouteHandler = (req: HttpRequest) => HttpResponseSpec | Promise<HttpResponseSpec>;

export interface RouteDefinition {
  method: HttpMethod;
  /** Pattern with `:name` segments, e.g. `/api/v1/keys/:key_id`. */
  pattern: string;
  /**
   * The authorization decision, required so that no route is added without one (the role ×
   * route × tenant matrix test is generated from the server's route table).
   */
  access: RouteAccess;
  /**
   * `parsed` (the default): a JSON or MessagePack body arrives parsed in `req.body`, any other
   * content type is a 415. `raw`: the bytes arrive in `req.rawBody` whatever their content type
   * (line protocol, remote write, form posts); the handler checks the type and decodes.
   * Either way the server's body size and time limits apply before the handler runs.
   */
  bodyFormat?: 'parsed' | 'raw';
  /** What the route takes and answers; the OpenAPI document is generated from it. */
  schema?: RouteSchema;
  /**
   * Whether its answered requests go to the audit log (docs/format/audit_log.md). Default
   * (`isAuditedRoute`): every method but GET, except routes a reader may call, since what a
   * reader may do by POST (a query) changes nothing. Data ingest routes say `false`: points are
   * data, not changes of state, and would flood the log.
   */
  audited?: boolean;
  /**
   * Also accept `Authorization: Token <token>` as Bearer: InfluxDB 2.x clients (Telegraf's
   * outputs.influxdb_v2) send that scheme. Only the line-protocol write routes set it.
   */
  acceptsTokenScheme?: boolean;
  handler: RouteHandler;
}

export function isAuditedRoute(route: Pick<RouteDefinition, 'method' | 'access' | 'audited'>): boolean {
  return route.audited ?? (route.method !== 'GET' && route.access !== 'reader');
}

/** A JSON Schema (2020-12, the dialect of OpenAPI 3.1), as a plain object. */
export type JsonSchema = Readonly<Record<string, unknown>>;

export interface ParameterSchema {
  description: string;
  /**
   * The value's JSON Schema. Query strings carry text: the server reads `integer`, `number`
   * and `boolean` schemas as such before checking, and `array` schemas from repeated names
   * (`match[]=a&match[]=b`), or comma-separated when `explode` is false. `default` is the
   * value a client gets by leaving the parameter out: errors and the reference show it.
   */
  schema: JsonSchema;
  required?: boolean;
  /** For array schemas: false reads `a,b,c` as three items (OpenAPI `explode: false`). */
  explode?: boolean;
}

export interface RouteSchema {
  /** One line, shown in the API reference. */
  summary: string;
  /** The reference's section, e.g. `alerts`, `keys`, `prometheus`. */
  tag: string;
  description?: string;
  /**
   * Every query-string parameter the route reads, by name. A name ending in `{…}`
   * (`tag.{key}`, or `tag.<key>`) declares a family: any parameter with that prefix (`tag.host=a`). The server
   * answers 400 to any other name before the handler runs (src/http/strict_params.ts).
   */
  query?: Readonly<Record<string, ParameterSchema>>;
  /** The `:name` segments of the pattern; undeclared ones are documented as plain strings. */
  params?: Readonly<Record<string, ParameterSchema>>;
  /**
   * Accepted request bodies, one per media type. JSON and MessagePack bodies of routes that do
   * not say `bodyFormat: 'raw'` are checked against the first JSON-like schema before the
   * handler runs: an object schema with `additionalProperties: false` makes unknown fields a
   * 400 with a "did you mean" hint.
   */
  body?: ReadonlyArray<{ contentType: string; schema: JsonSchema; required?: boolean }>;
  /**
   * Query parameters the route does not declare are passed through instead of refused.
   * Only for protocols whose clients send parameters we do not read (InfluxDB's `u`, `p`,
   * `consistency`); say which in `description`.
   */
  allowUnknownQuery?: boolean;
  /** Answers by status code. */
  responses: Readonly<Record<number, { description: string; contentType?: string; schema?: JsonSchema }>>;
}

/** Thrown by a handler to answer with a 4xx/5xx; `body` defaults to `{ error: message }`. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly body: Record<string, unknown> = { error: message },
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
