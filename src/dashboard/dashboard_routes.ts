/**
 * The dashboard's HTTP routes: the page at `/`, its hashed assets, and sign-in / session /
 * sign-out under /api/v1/dashboard/session. Everything else the page shows comes from the
 * ordinary API, authenticated by the session cookie (session_authenticator.ts).
 *
 * Sign-in takes an API key or a JWT in a JSON body (a cross-site form cannot send JSON
 * without a CORS preflight, which this server never grants), checks it with the server's
 * authenticator exactly as an `Authorization` header would be (failures count towards the
 * address's limit), and answers the CSRF token the page must send back on state changes.
 */
import type { Authenticator } from '../auth/authenticator.js';
import { HttpError, type HttpRequest, type HttpResponseSpec, type JsonSchema, type RouteDefinition } from '../http/route.js';
import { CSRF_HEADER, clearedSessionCookie, sessionCookie, sessionIdFromCookie } from './session_cookie.js';
import { csrfMatches, type SessionStore } from './session_store.js';
import { assetHeaders, pageHeaders } from './security_headers.js';
import type { DashboardAssets } from './static_assets.js';

export const SESSION_PATH = '/api/v1/dashboard/session';
/** A JWT with many claims fits; anything longer is not a credential. */
const MAX_CREDENTIAL_CHARS = 16_000;

export interface DashboardRouteDeps {
  assets: DashboardAssets;
  sessions: SessionStore;
  /** The server's token authenticator (not the session one: signing in needs a real credential). */
  authenticator: Authenticator;
  /** The server speaks TLS: the cookie is then `Secure`. */
  secure: boolean;
}

const PRINCIPAL_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { id: { type: 'string' }, kind: { type: 'string' }, role: { type: 'string' }, tenant: { type: 'string' } },
};
const SESSION_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { principal: PRINCIPAL_SCHEMA, csrf_token: { type: 'string' }, expires_at: { type: 'string', format: 'date-time' } },
};
const ERROR_SCHEMA: JsonSchema = { type: 'object', properties: { error: { type: 'string' } } };

export function dashboardRoutes(deps: DashboardRouteDeps): RouteDefinition[] {
  const { assets, sessions } = deps;

  function page(): HttpResponseSpec {
    if (assets.html === undefined) {
      return { status: 503, contentType: 'text/plain; charset=utf-8', body: `the dashboard is not built (no index.html in ${assets.root}); run \`npm run build:web\``, headers: pageHeaders() };
    }
    return { contentType: 'text/html; charset=utf-8', body: assets.html, headers: pageHeaders() };
  }

  async function signIn(req: HttpRequest): Promise<HttpResponseSpec> {
    const body = req.body as { token?: unknown } | undefined;
    const token = typeof body?.token === 'string' ? body.token.trim() : undefined;
    if (token === undefined || token === '' || token.length > MAX_CREDENTIAL_CHARS || /\s/.test(token)) {
      throw new HttpError(400, 'token is required: an API key (emms_…) or a JWT, as a JSON string', { error: 'token is required: an API key (emms_…) or a JWT', parameter: 'token' });
    }
    const result = await deps.authenticator.authenticate({ authorization: `Bearer ${token}`, tenantHeader: undefined, remoteAddress: req.remoteAddress });
    if (!result.ok) throw new HttpError(result.status, result.error);
    const { id, session } = sessions.create(token, result.principal);
    return {
      status: 201,
      auditPrincipal: result.principal,
      headers: { 'set-cookie': sessionCookie(id, session.expiresMs - session.createdMs, deps.secure), 'cache-control': 'no-store' },
      body: describe(result.principal, session.csrfToken, session.expiresMs),
    };
  }

  function current(req: HttpRequest): HttpResponseSpec {
    const session = sessions.get(sessionIdFromCookie(req.headers.cookie));
    // 200 either way: the page asks this on every load, and a 401 would be a console error.
    if (session === undefined || req.principal === undefined) return { headers: { 'cache-control': 'no-store' }, body: { signed_in: false } };
    // req.principal is the credential re-checked now, with any operator tenant switch applied.
    return { headers: { 'cache-control': 'no-store' }, body: { signed_in: true, ...describe(req.principal, session.csrfToken, session.expiresMs) } };
  }

  function signOut(req: HttpRequest): HttpResponseSpec {
    const id = sessionIdFromCookie(req.headers.cookie);
    const session = sessions.get(id);
    if (session !== undefined) {
      if (!csrfMatches(session, req.headers[CSRF_HEADER])) throw new HttpError(403, 'signing out needs the session\'s CSRF token in X-Emms-CSRF');
      sessions.delete(id);
    }
    return { headers: { 'set-cookie': clearedSessionCookie(deps.secure), 'cache-control': 'no-store' }, body: { signed_out: session !== undefined } };
  }

  return [
    {
      method: 'GET', pattern: '/', access: 'public', handler: page,
      schema: { summary: 'The web dashboard (HTML page)', tag: 'dashboard', responses: { 200: { description: 'the page', contentType: 'text/html' }, 503: { description: 'the front end was not built', contentType: 'text/plain' } } },
    },
    {
      method: 'GET', pattern: '/assets/:name', access: 'public',
      handler: (req) => {
        const asset = assets.assets.get(req.params.name ?? '');
        if (asset === undefined) throw new HttpError(404, `no dashboard asset ${JSON.stringify((req.params.name ?? '').slice(0, 80))}`);
        return { contentType: asset.contentType, body: asset.bytes, headers: assetHeaders() };
      },
      schema: { summary: 'A content-hashed dashboard asset (script, style, WASM), cached as immutable', tag: 'dashboard', responses: { 200: { description: 'the asset' }, 404: { description: 'no such asset', schema: ERROR_SCHEMA } } },
    },
    {
      method: 'POST', pattern: SESSION_PATH, access: 'public', handler: signIn,
      schema: {
        summary: 'Sign in to the dashboard with an API key or a JWT; sets the HttpOnly session cookie',
        tag: 'dashboard',
        body: [{ contentType: 'application/json', required: true, schema: { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: MAX_CREDENTIAL_CHARS } } } }],
        responses: { 201: { description: 'signed in', schema: SESSION_SCHEMA }, 400: { description: 'no token', schema: ERROR_SCHEMA }, 401: { description: 'the credential was refused', schema: ERROR_SCHEMA }, 429: { description: 'too many failures from this address', schema: ERROR_SCHEMA } },
      },
    },
    {
      method: 'GET', pattern: SESSION_PATH, access: 'public', handler: current,
      schema: { summary: 'The signed-in session: principal, CSRF token, expiry (signed_in false without a live session)', tag: 'dashboard', responses: { 200: { description: 'the session, or signed_in: false', schema: { ...SESSION_SCHEMA, properties: { ...(SESSION_SCHEMA.properties as object), signed_in: { type: 'boolean' } } } } } },
    },
    {
      method: 'DELETE', pattern: SESSION_PATH, access: 'public', handler: signOut,
      schema: { summary: 'Sign out: ends the session and clears its cookie', tag: 'dashboard', responses: { 200: { description: 'signed out', schema: { type: 'object', properties: { signed_out: { type: 'boolean' } } } }, 403: { description: 'the CSRF token is missing or wrong', schema: ERROR_SCHEMA } } },
    },
  ];
}

function describe(principal: { id: string; kind: string; role: string; tenant: string }, csrfToken: string, expiresMs: number): Record<string, unknown> {
  return { principal: { id: principal.id, kind: principal.kind, role: principal.role, tenant: principal.tenant }, csrf_token: csrfToken, expires_at: new Date(expiresMs).toISOString() };
}
