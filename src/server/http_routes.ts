/**
 * The contract between the HTTP server and the features that add routes to it (analytics,
 * alerts, keys, health targets). A feature exports `xxxRoutes(deps): RouteDefinition[]`; the
 * server (src/server/) mounts them, parses bodies and turns thrown HttpErrors into responses.
 * Features never touch uWebSockets.js, so they are tested by calling handlers directly.
 */

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

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
  remoteAddress: string;
}

export interface HttpResponseSpec {
  /** Default 200. */
  status?: number;
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
  handler: RouteHandler;
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
