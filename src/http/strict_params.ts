/**
 * The strict half of the route contract: before a handler runs, the server checks the request
 * against the route's `schema` (route.ts) and answers one 400 listing every problem at once:
 * unknown query parameters and body fields (with a "did you mean" hint: `metricId` →
 * `metric_id`), missing required ones, and invalid values, each with the default the server
 * would have used. A client fixes everything in one round trip instead of four.
 *
 * Values are checked with Ajv (JSON Schema 2020-12, the dialect of OpenAPI 3.1), so the schema
 * that documents a route (openapi.ts) is the one that guards it and the two cannot drift.
 * Each route's validators are compiled once, on its first request.
 */
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import { parseInterval, durationProblem } from '../model/interval.js';
import { describeValue } from '../model/metric.js';
import { isQueryTime, timeInputMs } from '../model/time.js';
import { DURATION_FORMAT, TIME_FORMAT } from './common_schemas.js';
import { didYouMean } from './did_you_mean.js';
import { HttpError, type JsonSchema, type ParameterSchema, type RouteDefinition, type RouteSchema } from './route.js';

export type ProblemKind = 'unknown' | 'missing' | 'invalid' | 'repeated';

export interface RequestProblem {
  in: 'query' | 'body';
  /** The parameter or field as the client wrote it: `limit`, `escalation[0].after_seconds`. */
  name: string;
  problem: ProblemKind;
  message: string;
  value?: unknown;
  default?: unknown;
  did_you_mean?: string;
}

/** At most this many problems are listed: a body of 10,000 wrong points needs only a sample. */
export const MAX_PROBLEMS = 20;

const TIME_RULE = 'must be epoch milliseconds, an ISO-8601 time or a relative time such as now-1h';

function isDuration(text: string): boolean {
  try {
    parseInterval(text);
    return true;
  } catch {
    return false;
  }
}

function isTime(text: string): boolean {
  const ms = timeInputMs(text);
  return ms !== undefined && isQueryTime(ms);
}

/** One Ajv for every route: formats registered once, schemas compiled per route on first use. */
function createAjv(): Ajv2020 {
  // strict: false lets schemas carry documentation keywords (`examples`, `x-…`) Ajv does not
  // know; validateFormats stays on for our own formats, and unknown formats are ignored.
  const ajv = new Ajv2020({ allErrors: true, strict: false, verbose: true, logger: false });
  ajv.addFormat(DURATION_FORMAT, { type: 'string', validate: isDuration });
  ajv.addFormat(TIME_FORMAT, { type: 'string', validate: isTime });
  return ajv;
}

let sharedAjv: Ajv2020 | undefined;
function ajv(): Ajv2020 {
  return (sharedAjv ??= createAjv());
}

function typesOf(schema: JsonSchema): string[] {
  const t = schema.type;
  return Array.isArray(t) ? (t as string[]) : typeof t === 'string' ? [t] : [];
}

/** `tag.{key}` or `tag.<key>`: a family of parameters sharing the prefix `tag.`. */
const FAMILY = /^(.+?)(?:\{\w+\}|<\w+>)$/;

const NUMERIC = /^-?\d+(?:\.\d+)?(?:e[+-]?\d+)?$/i;

/** Query text as its schema's type, so Ajv checks `limit=10` as the integer 10. */
function coerce(text: string, schema: JsonSchema): unknown {
  const types = typesOf(schema);
  if ((types.includes('integer') || types.includes('number')) && NUMERIC.test(text.trim())) return Number(text);
  if (types.includes('boolean') && (text === 'true' || text === 'false')) return text === 'true';
  return text;
}

/** `escalation/0/after_seconds` → `escalation[0].after_seconds`. */
function fieldName(instancePath: string, child?: string): string {
  const parts = instancePath.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  let out = '';
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

function defaultOf(schema: unknown): unknown {
  return typeof schema === 'object' && schema !== null ? (schema as Record<string, unknown>).default : undefined;
}

/** Ajv's error as a problem with a message a person can act on. */
function toProblem(where: RequestProblem['in'], e: ErrorObject, root: string): RequestProblem {
  if (e.keyword === 'required') {
    const name = fieldName(e.instancePath, (e.params as { missingProperty: string }).missingProperty);
    return { in: where, name: name || root, problem: 'missing', message: `${name} is required` };
  }
  if (e.keyword === 'additionalProperties') {
    const unknown = (e.params as { additionalProperty: string }).additionalProperty;
    const name = fieldName(e.instancePath, unknown);
    const known = Object.keys(((e.parentSchema ?? {}) as { properties?: Record<string, unknown> }).properties ?? {});
    const hint = didYouMean(unknown, known);
    const allowed = known.length === 0 ? 'no fields are accepted here' : `known: ${known.join(', ')}`;
    const problem: RequestProblem = { in: where, name, problem: 'unknown', message: `${name} is not a known field${hint === undefined ? '' : ` (did you mean ${hint}?)`}; ${allowed}` };
    if (hint !== undefined) problem.did_you_mean = hint;
    return problem;
  }
  const name = fieldName(e.instancePath) || root;
  let rule = `${e.message ?? 'is invalid'}`;
  // A duration that fails its pattern, or arrives as a bare number, gets the duration's own message.
  const format = e.keyword === 'format' ? (e.params as { format: string }).format : e.keyword === 'pattern' || e.keyword === 'type' ? (e.parentSchema as JsonSchema | undefined)?.format : undefined;
  if (format === DURATION_FORMAT) rule = durationProblem(String(e.data));
  else if (format === TIME_FORMAT) rule = TIME_RULE;
  else if (e.keyword === 'enum') rule = `must be one of ${((e.params as { allowedValues: unknown[] }).allowedValues).map((v) => String(v)).join(', ')}`;
  else if (e.keyword === 'type') rule = `must be ${typesOf(e.parentSchema as JsonSchema).map((t) => (t === 'integer' ? 'an integer' : t === 'array' ? 'an array' : t === 'object' ? 'an object' : `a ${t}`)).join(' or ') || 'of another type'}`;
  const dflt = defaultOf(e.parentSchema);
  const message = `${name}=${describeValue(e.data)} ${rule}${dflt === undefined ? '' : ` (leave it out for the default ${describeValue(dflt)})`}`;
  const problem: RequestProblem = { in: where, name, problem: 'invalid', message, value: e.data };
  if (dflt !== undefined) problem.default = dflt;
  return problem;
}

/** One problem per name: a duration that fails both `format` and `pattern` is one problem. */
function addProblem(out: RequestProblem[], p: RequestProblem): void {
  const same = out.findIndex((q) => q.in === p.in && q.name === p.name);
  if (same < 0) out.push(p);
}

function bodySchemaOf(schema: RouteSchema): { schema: JsonSchema; required: boolean } | undefined {
  const entry = schema.body?.find((b) => /json|msgpack/.test(b.contentType));
  return entry === undefined ? undefined : { schema: entry.schema, required: entry.required ?? false };
}

/** The checks of one route, compiled once. */
export class RouteChecker {
  readonly #declared: ReadonlyMap<string, ParameterSchema>;
  /** Prefixes of parameter families (`tag.` of `tag.{key}`). */
  readonly #families: readonly string[];
  readonly #query: ValidateFunction;
  readonly #body: ValidateFunction | undefined;
  readonly #bodyRequired: boolean;
  readonly #allowUnknownQuery: boolean;

  constructor(schema: RouteSchema) {
    const declared = new Map<string, ParameterSchema>();
    const families: string[] = [];
    for (const [name, p] of Object.entries(schema.query ?? {})) {
      const family = FAMILY.exec(name);
      if (family !== null) families.push(family[1]!);
      else declared.set(name, p);
    }
    this.#declared = declared;
    this.#families = families;
    const properties: Record<string, JsonSchema> = {};
    const required: string[] = [];
    for (const [name, p] of declared) {
      properties[name] = p.schema;
      if (p.required === true) required.push(name);
    }
    this.#query = ajv().compile({ type: 'object', properties, required });
    const body = bodySchemaOf(schema);
    this.#body = body === undefined ? undefined : ajv().compile(body.schema);
    this.#bodyRequired = body?.required ?? false;
    this.#allowUnknownQuery = schema.allowUnknownQuery === true;
  }

  /** Every problem of the request (at most MAX_PROBLEMS); empty when it may proceed. */
  check(query: URLSearchParams, body: unknown, checkBody: boolean): RequestProblem[] {
    const problems: RequestProblem[] = [];
    const values = new Map<string, string[]>();
    for (const [name, value] of query) {
      if (this.#declared.has(name)) {
        let list = values.get(name);
        if (list === undefined) values.set(name, (list = []));
        list.push(value);
      } else if (!this.#allowUnknownQuery && !this.#families.some((f) => name.startsWith(f) && name.length > f.length)) {
        const known = [...this.#declared.keys(), ...this.#families.map((f) => `${f}<key>`)];
        const hint = didYouMean(name, known);
        const problem: RequestProblem = {
          in: 'query', name, problem: 'unknown', value,
          message: `${name} is not a parameter of this route${hint === undefined ? '' : ` (did you mean ${hint}?)`}; ${known.length === 0 ? 'it takes none' : `known: ${known.join(', ')}`}`,
        };
        if (hint !== undefined) problem.did_you_mean = hint;
        problems.push(problem);
      }
    }
    const object: Record<string, unknown> = {};
    for (const [name, list] of values) {
      const p = this.#declared.get(name)!;
      if (typesOf(p.schema).includes('array')) {
        const items = (p.schema.items ?? {}) as JsonSchema;
        const raw = p.explode === false ? list.flatMap((v) => v.split(',').map((s) => s.trim()).filter((s) => s !== '')) : list;
        object[name] = raw.map((v) => coerce(v, items));
      } else if (list.length > 1) {
        problems.push({ in: 'query', name, problem: 'repeated', value: list, message: `${name} is given ${list.length} times; give it once` });
      } else if (list[0] === '' && !typesOf(p.schema).includes('string')) {
        // `?limit=` is how form-building clients leave a parameter out.
      } else {
        object[name] = coerce(list[0]!, p.schema);
      }
    }
    if (!this.#query(object)) for (const e of this.#query.errors ?? []) addProblem(problems, toProblem('query', e, 'query'));
    if (checkBody) this.#checkBody(body, problems);
    return problems.slice(0, MAX_PROBLEMS);
  }

  #checkBody(body: unknown, problems: RequestProblem[]): void {
    if (body === undefined) {
      if (this.#bodyRequired) problems.push({ in: 'body', name: 'body', problem: 'missing', message: 'a JSON body is required' });
      return;
    }
    if (this.#body === undefined) {
      // `{}` is what many clients send with a POST that needs nothing.
      const empty = typeof body === 'object' && body !== null && !Array.isArray(body) && Object.keys(body).length === 0;
      if (!empty) problems.push({ in: 'body', name: 'body', problem: 'unknown', message: 'this route takes no body; send none (or {})' });
      return;
    }
    if (!this.#body(body)) for (const e of this.#body.errors ?? []) addProblem(problems, toProblem('body', e, 'body'));
  }
}

const checkers = new WeakMap<RouteSchema, RouteChecker>();

/** The checker of a route's schema, compiled on first use (throws if the schema is broken). */
export function checkerOf(schema: RouteSchema): RouteChecker {
  let c = checkers.get(schema);
  if (c === undefined) checkers.set(schema, (c = new RouteChecker(schema)));
  return c;
}

/** The 400 answer for `problems`: a summary line, plus each problem for programs. */
export function problemsError(problems: readonly RequestProblem[]): HttpError {
  const count = problems.length === 1 ? '' : `${problems.length} problems: `;
  const message = count + problems.map((p) => p.message).join('; ');
  const first = problems[0]!;
  // `parameter`/`field` name the first problem, as the handlers' own 400s always have.
  const key = first.in === 'query' ? 'parameter' : 'field';
  return new HttpError(400, message, { error: message, [key]: first.name, problems });
}

/**
 * Throws the 400 for everything wrong with the request's query string and (for parsed bodies)
 * body. Routes without a schema pass unchecked: tests/unit/openapi_routes.test.ts lists them.
 */
export function checkRequest(definition: RouteDefinition, query: URLSearchParams, body: unknown): void {
  if (definition.schema === undefined) return;
  const problems = checkerOf(definition.schema).check(query, body, definition.bodyFormat !== 'raw');
  if (problems.length > 0) throw problemsError(problems);
}
