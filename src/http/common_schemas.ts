/**
 * JSON Schema pieces every route's `schema` reuses, so that a duration, a time, an error answer
 * or a list of strings reads and is checked the same on every route: durations need a unit
 * (src/model/interval.ts), times take epoch ms, ISO-8601 or `now-1h` (src/model/time.ts), and
 * every error answer is `{error, …}`.
 *
 * `format: 'emms-duration'` and `format: 'emms-time'` are our own formats: the strict checker
 * (strict_params.ts) registers them, and the OpenAPI document keeps them with a description.
 */
import { DURATION_PATTERN_SOURCE } from '../model/interval.js';
import type { JsonSchema, ParameterSchema, RouteSchema } from './route.js';

export const DURATION_FORMAT = 'emms-duration';
export const TIME_FORMAT = 'emms-time';

/** A duration with its unit: `30s`, `5m`, `1.5h`, `7d`, `2w`, `500ms`. */
export function durationSchema(extra: Record<string, unknown> = {}): JsonSchema {
  return { type: 'string', format: DURATION_FORMAT, pattern: DURATION_PATTERN_SOURCE, examples: ['30s', '5m', '24h', '7d'], ...extra };
}

/** A time: epoch milliseconds, ISO-8601 (no offset means UTC) or relative (`now`, `now-1h`). */
export function timeSchema(extra: Record<string, unknown> = {}): JsonSchema {
  return {
    type: ['string', 'integer'], format: TIME_FORMAT,
    examples: ['now-1h', '2026-01-01T00:00:00Z', 1767225600000], ...extra,
  };
}

export const STRING: JsonSchema = { type: 'string' };
export const BOOLEAN: JsonSchema = { type: 'boolean' };
export const NUMBER: JsonSchema = { type: 'number' };
export const TAGS_SCHEMA: JsonSchema = { type: 'object', additionalProperties: { type: 'string' }, description: 'tag key → value' };
export const STRING_LIST: JsonSchema = { type: 'array', items: { type: 'string' } };
export const ANY_OBJECT: JsonSchema = { type: 'object' };

export function integerSchema(minimum: number, maximum: number, extra: Record<string, unknown> = {}): JsonSchema {
  return { type: 'integer', minimum, maximum, ...extra };
}

export function enumSchema(values: readonly string[], extra: Record<string, unknown> = {}): JsonSchema {
  return { type: 'string', enum: [...values], ...extra };
}

/** An object with exactly these properties (unknown ones are refused with a hint). */
export function strictObject(properties: Record<string, JsonSchema>, required: readonly string[] = [], extra: Record<string, unknown> = {}): JsonSchema {
  return { type: 'object', properties, ...(required.length > 0 ? { required: [...required] } : {}), additionalProperties: false, ...extra };
}

/** A query parameter. */
export function param(description: string, schema: JsonSchema, required = false): ParameterSchema {
  return required ? { description, schema, required } : { description, schema };
}

/** `GET ?tag.<key>=<value>` filters, declared as the family `tag.{key}`. */
export const TAG_FILTER_PARAMS: Readonly<Record<string, ParameterSchema>> = {
  'tag.{key}': param('Exact tag filter, one parameter per tag: `tag.host=web-1`.', STRING),
};

/** A JSON or MessagePack request body of this schema. */
export function jsonBody(schema: JsonSchema, required = true): NonNullable<RouteSchema['body']> {
  return [
    { contentType: 'application/json', schema, required },
    { contentType: 'application/msgpack', schema, required },
  ];
}

/** `{error}` plus whatever the route adds (`field`, `parameter`, `index` …). */
export const ERROR_SCHEMA: JsonSchema = {
  type: 'object',
  properties: { error: { type: 'string', description: 'What was wrong, naming the field or parameter and the value.' } },
  required: ['error'],
};

/** The 400 of the strict checker: every problem of the request at once. */
export const PROBLEMS_SCHEMA: JsonSchema = {
  type: 'object',
  required: ['error', 'problems'],
  properties: {
    error: { type: 'string' },
    problems: {
      type: 'array',
      items: {
        type: 'object',
        required: ['in', 'name', 'problem'],
        properties: {
          in: { enum: ['query', 'body', 'path'] },
          name: { type: 'string', description: 'The parameter or field, e.g. `limit` or `escalation[0].after_seconds`.' },
          problem: { enum: ['unknown', 'missing', 'invalid', 'repeated'] },
          message: { type: 'string' },
          value: {},
          default: { description: 'What the server uses when the parameter is left out.' },
          did_you_mean: { type: 'string' },
        },
      },
    },
  },
};

/** Response entries for `responses`. */
export function ok(description: string, schema: JsonSchema = ANY_OBJECT, contentType?: string): { description: string; schema: JsonSchema; contentType?: string } {
  return contentType === undefined ? { description, schema } : { description, schema, contentType };
}

export function error(description: string): { description: string; schema: JsonSchema } {
  return { description, schema: ERROR_SCHEMA };
}

/** Keywords that judge a value; a domain-checked schema moves them into its description. */
const VALUE_KEYWORDS = ['type', 'enum', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'pattern', 'format', 'maxLength', 'minItems', 'required', 'examples'] as const;

/**
 * A body schema whose values the feature's own validator judges (alert rules, targets, keys):
 * the strict checker then refuses only unknown fields (with the hint), and every value keeps
 * the feature's message (`rule.comparison="=>" must be one of …`), which names the object and
 * its own rule. What the keywords said stays in each field's description, for the reference.
 */
export function domainChecked(schema: JsonSchema): JsonSchema {
  const out: Record<string, unknown> = {};
  const said: string[] = [];
  for (const [k, v] of Object.entries(schema)) {
    if ((VALUE_KEYWORDS as readonly string[]).includes(k)) {
      if (k === 'type') said.push(Array.isArray(v) ? v.join(' or ') : String(v));
      else if (k === 'enum') said.push(`one of ${(v as unknown[]).map(String).join(', ')}`);
      else if (k === 'required') said.push(`requires ${(v as string[]).join(', ')}`);
      else if (k !== 'examples') said.push(`${k} ${typeof v === 'string' ? v : JSON.stringify(v)}`);
    } else if (k === 'properties') {
      out.properties = Object.fromEntries(Object.entries(v as Record<string, JsonSchema>).map(([name, p]) => [name, domainChecked(p)]));
    } else if (k === 'items' && typeof v === 'object' && v !== null) {
      out.items = domainChecked(v as JsonSchema);
    } else if (k !== 'description') {
      out[k] = v;
    }
  }
  const description = [said.join('; '), schema.description].filter((s) => typeof s === 'string' && s !== '').join('. ');
  if (description !== '') out.description = description;
  return out;
}
