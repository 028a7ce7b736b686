/**
 * The OpenAPI 3.1 document of the HTTP API, generated from the server's own route table (the
 * routes' `schema`, `access` and `bodyFormat`), so the description cannot drift from what the
 * server does: the same schemas guard each request (strict_params.ts). Served at
 * `GET /api/v1/openapi.json`; `npm run docs:api` renders docs/api/ from it.
 *
 * Every answer the server itself adds is documented on each operation: 400 with `problems`
 * where the route takes parameters or a body, 401/403 on routes that need a role.
 */
import { PROBLEMS_SCHEMA, ERROR_SCHEMA } from './common_schemas.js';
import type { JsonSchema, RouteAccess, RouteDefinition } from './route.js';

export const OPENAPI_VERSION = '3.1.0';

export interface OpenApiInfo {
  title: string;
  version: string;
  description?: string;
}

/** `/api/v1/keys/:key_id` → `/api/v1/keys/{key_id}`. */
export function openApiPath(pattern: string): string {
  return pattern.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function pathParamNames(pattern: string): string[] {
  return [...pattern.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
}

/** `GET /api/v1/alerts/:alert_id` → `getApiV1AlertsByAlertId`, unique per method and path. */
export function operationId(method: string, pattern: string): string {
  const words = pattern.split('/').filter((s) => s !== '').map((s) => (s.startsWith(':') ? `by_${s.slice(1)}` : s));
  const camel = words.flatMap((w) => w.split(/[^A-Za-z0-9]+/)).filter((w) => w !== '').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');
  return method.toLowerCase() + (camel || 'Root');
}

const ACCESS_TEXT: Record<RouteAccess, string> = {
  public: 'Public: no credentials needed.',
  reader: 'Needs the `reader` role (or higher) in the caller\'s tenant.',
  writer: 'Needs the `writer` role (or higher) in the caller\'s tenant.',
  admin: 'Needs the `admin` role in the caller\'s tenant.',
  operator: 'Needs the global `operator` role.',
};

/** Parameter families `tag.{key}` are documented with their pattern; OpenAPI has no prefix parameters. */
function queryParameter(name: string, p: { description: string; schema: JsonSchema; required?: boolean; explode?: boolean }): Record<string, unknown> {
  const family = /(?:\{\w+\}|<\w+>)$/.test(name);
  const out: Record<string, unknown> = {
    name,
    in: 'query',
    description: family ? `${p.description} (a family of parameters: replace \`${name.slice(name.search(/[{<]/))}\`)` : p.description,
    required: p.required === true,
    schema: p.schema,
  };
  if (p.explode === false) {
    out.style = 'form';
    out.explode = false;
  }
  return out;
}

function operation(route: RouteDefinition): Record<string, unknown> {
  const s = route.schema!;
  const parameters: Record<string, unknown>[] = [];
  for (const name of pathParamNames(route.pattern)) {
    const declared = s.params?.[name];
    parameters.push({ name, in: 'path', required: true, description: declared?.description ?? `The ${name.replace(/_/g, ' ')}.`, schema: declared?.schema ?? { type: 'string' } });
  }
  for (const [name, p] of Object.entries(s.query ?? {})) parameters.push(queryParameter(name, p));

  const responses: Record<string, unknown> = {};
  for (const [status, r] of Object.entries(s.responses)) {
    const entry: Record<string, unknown> = { description: r.description };
    if (r.schema !== undefined || r.contentType !== undefined) entry.content = { [r.contentType ?? 'application/json']: r.schema === undefined ? {} : { schema: r.schema } };
    responses[status] = entry;
  }
  const checked = parameters.some((p) => p.in === 'query') || (s.body !== undefined && route.bodyFormat !== 'raw');
  if (checked && responses['400'] === undefined) {
    responses['400'] = { description: 'Unknown, missing or invalid parameters or fields, all listed at once.', content: { 'application/json': { schema: PROBLEMS_SCHEMA } } };
  }
  if (route.access !== 'public') {
    responses['401'] ??= { description: 'No or invalid credentials.', content: { 'application/json': { schema: ERROR_SCHEMA } } };
    responses['403'] ??= { description: `The credentials' role is below \`${route.access}\`.`, content: { 'application/json': { schema: ERROR_SCHEMA } } };
  }

  const op: Record<string, unknown> = {
    operationId: operationId(route.method, route.pattern),
    summary: s.summary,
    description: [s.description, ACCESS_TEXT[route.access]].filter((x) => x !== undefined && x !== '').join('\n\n'),
    tags: [s.tag],
    'x-emms-access': route.access,
  };
  if (parameters.length > 0) op.parameters = parameters;
  if (s.body !== undefined && s.body.length > 0) {
    const content: Record<string, unknown> = {};
    for (const b of s.body) content[b.contentType] = { schema: b.schema };
    op.requestBody = { required: s.body.some((b) => b.required === true), content };
  }
  op.responses = responses;
  op.security = route.access === 'public' ? [{}, { bearer: [] }] : [{ bearer: [] }];
  return op;
}

/**
 * The document for `routes`. Routes without a schema are left out (and listed by the test that
 * refuses them); `x-emms-undocumented` names them so a reader of the document sees the gap.
 */
export function buildOpenApi(routes: readonly RouteDefinition[], info: OpenApiInfo): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const tags = new Set<string>();
  const undocumented: string[] = [];
  const sorted = [...routes].sort((a, b) => (a.pattern === b.pattern ? a.method.localeCompare(b.method) : a.pattern.localeCompare(b.pattern)));
  for (const route of sorted) {
    if (route.schema === undefined) {
      undocumented.push(`${route.method} ${route.pattern}`);
      continue;
    }
    tags.add(route.schema.tag);
    (paths[openApiPath(route.pattern)] ??= {})[route.method.toLowerCase()] = operation(route);
  }
  const doc: Record<string, unknown> = {
    openapi: OPENAPI_VERSION,
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: { title: info.title, version: info.version, ...(info.description === undefined ? {} : { description: info.description }), license: { name: 'MIT', identifier: 'MIT' } },
    tags: [...tags].sort().map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'An API key (`emms_…`) or a JWT: `Authorization: Bearer <token>`.' },
      },
    },
  };
  if (undocumented.length > 0) doc['x-emms-undocumented'] = undocumented;
  return doc;
}
