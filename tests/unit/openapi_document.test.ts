/**
 * The OpenAPI 3.1 document, generated from the real server's route table (the app composed as
 * `emms serve` composes it, in-process): every route must carry a schema (the first test lists
 * every straggler at once), the document must validate against the official OpenAPI 3.1
 * schema (tests/fixtures/openapi/, Apache-2.0, see its NOTICE.md), every embedded schema must
 * be valid JSON Schema 2020-12 and compile in the strict checker, and the server must serve
 * exactly this document at GET /api/v1/openapi.json without credentials.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmmsApp, type EmmsApp } from '../../src/app/emms_app.js';
import { loadConfig } from '../../src/config/config.js';
import { buildOpenApi, openApiPath, operationId } from '../../src/http/openapi.js';
import type { RouteDefinition } from '../../src/http/route.js';
import { checkerOf } from '../../src/http/strict_params.js';
import { openApiDocument } from '../../src/server/builtin_routes.js';

let dir: string;
let app: EmmsApp;
let routes: readonly RouteDefinition[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'emms-openapi-'));
  const config = loadConfig({ env: {}, flags: { port: '0', data: dir } });
  config.collector.decodeThreads = 0;
  config.logLevel = 'silent';
  app = await startEmmsApp(config, () => undefined);
  routes = app.server.routes;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const key = (r: RouteDefinition): string => `${r.method} ${r.pattern}`;

describe('the route table', () => {
  it('gives every route a schema (lists every route without one)', () => {
    expect(routes.length).toBeGreaterThan(50);
    const missing = routes.filter((r) => r.schema === undefined).map(key);
    expect(missing, `routes without a schema: ${missing.join(', ')}`).toEqual([]);
  });

  it('gives every schema a summary, a tag and at least one answer', () => {
    const incomplete = routes.filter((r) => r.schema !== undefined && (r.schema.summary.trim() === '' || r.schema.tag.trim() === '' || Object.keys(r.schema.responses).length === 0)).map(key);
    expect(incomplete).toEqual([]);
  });

  it('compiles every route\'s checker (a broken schema would fail its first request)', () => {
    const broken: string[] = [];
    for (const r of routes) {
      if (r.schema === undefined) continue;
      try {
        checkerOf(r.schema);
      } catch (err) {
        broken.push(`${key(r)}: ${(err as Error).message}`);
      }
    }
    expect(broken).toEqual([]);
  });
});

describe('the OpenAPI document', () => {
  it('validates against the official OpenAPI 3.1 schema', () => {
    const doc = openApiDocument(routes);
    const ajv = new Ajv2020({ allErrors: true, strict: false });
    addFormats.default(ajv);
    // Ajv supports `$dynamicAnchor` only at a schema's root; the official schema puts its
    // `meta` anchor in `$defs/schema` and nothing overrides it, so `$dynamicRef: #meta` resolves
    // to exactly `#/$defs/schema`: the same check, spelled as a plain `$ref`.
    const text = readFileSync(new URL('../fixtures/openapi/oas-3.1-schema-2022-10-07.json', import.meta.url), 'utf8');
    expect(text.match(/"\$dynamicRef": "#meta"/g)?.length).toBe(4);
    const oas = JSON.parse(text.replace(/"\$dynamicRef": "#meta"/g, '"$ref": "#/$defs/schema"')) as object;
    const validate = ajv.compile(oas);
    const valid = validate(doc);
    expect(validate.errors ?? [], JSON.stringify(validate.errors?.slice(0, 5), null, 1)).toEqual([]);
    expect(valid).toBe(true);
    expect(doc.openapi).toBe('3.1.0');
    // The check is not vacuous: an operation without answers, or a bad parameter location, fails.
    const broken = JSON.parse(JSON.stringify(doc)) as { paths: Record<string, Record<string, any>> };
    delete broken.paths['/health']!.get.responses;
    broken.paths['/api/v1/query']!.get.parameters[0].in = 'body';
    expect(validate(broken)).toBe(false);
  });

  it('embeds only valid JSON Schema 2020-12', () => {
    const ajv = new Ajv2020({ strict: false });
    const doc = openApiDocument(routes) as { paths: Record<string, Record<string, any>> };
    const invalid: string[] = [];
    const check = (where: string, schema: unknown): void => {
      if (schema !== undefined && !ajv.validateSchema(schema as object)) invalid.push(`${where}: ${ajv.errorsText(ajv.errors)}`);
    };
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        for (const p of op.parameters ?? []) check(`${method} ${path} ${p.name}`, p.schema);
        for (const [type, c] of Object.entries(op.requestBody?.content ?? {})) check(`${method} ${path} body ${type}`, (c as any).schema);
        for (const [status, r] of Object.entries(op.responses)) for (const c of Object.values((r as any).content ?? {})) check(`${method} ${path} ${status}`, (c as any).schema);
      }
    }
    expect(invalid).toEqual([]);
  });

  it('has one operation per route, unique operation ids, and every path parameter declared', () => {
    const doc = openApiDocument(routes) as { paths: Record<string, Record<string, any>> };
    const documented = routes.filter((r) => r.schema !== undefined);
    const ops = Object.entries(doc.paths).flatMap(([path, m]) => Object.entries(m).map(([method, op]) => ({ path, method, op })));
    expect(ops.length).toBe(documented.length);
    const ids = ops.map((o) => o.op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const r of documented) {
      const op = doc.paths[openApiPath(r.pattern)]![r.method.toLowerCase()];
      expect(op.operationId).toBe(operationId(r.method, r.pattern));
      expect(op['x-emms-access']).toBe(r.access);
      for (const name of [...r.pattern.matchAll(/:(\w+)/g)].map((m) => m[1])) {
        expect(op.parameters.some((p: any) => p.in === 'path' && p.name === name && p.required === true)).toBe(true);
      }
      if (r.access !== 'public') expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', '403']));
    }
  });

  it('lists routes without a schema under x-emms-undocumented instead of inventing one', () => {
    const doc = buildOpenApi([{ method: 'GET', pattern: '/x/:id', access: 'reader', handler: () => ({}) }], { title: 't', version: '1' });
    expect(doc['x-emms-undocumented']).toEqual(['GET /x/:id']);
    expect(doc.paths).toEqual({});
  });

  it('is served at GET /api/v1/openapi.json without credentials, equal to the generated one', async () => {
    const res = await fetch(`http://127.0.0.1:${app.server.port}/api/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(await res.json()).toEqual(JSON.parse(JSON.stringify(openApiDocument(routes))));
    const strict = await fetch(`http://127.0.0.1:${app.server.port}/api/v1/openapi.json?format=yaml`);
    expect(strict.status).toBe(400);
  });
});
