/**
 * `npm run docs:api`: writes docs/api/ from the OpenAPI document of the server's route table.
 * The app is composed as `emms serve` composes it (default settings, a throw-away data
 * directory, an ephemeral loopback port), so the reference lists exactly the routes served.
 * tests/integration/http_api_docs.test.ts fails when the committed files differ.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmmsApp } from '../src/app/emms_app.js';
import { loadConfig } from '../src/config/config.js';
import { renderApiDocs } from '../src/http/openapi_markdown.js';
import { openApiDocument } from '../src/server/builtin_routes.js';

const outDir = join(import.meta.dirname, '..', 'docs', 'api');
const dataDir = mkdtempSync(join(tmpdir(), 'emms-docs-api-'));
try {
  const config = loadConfig({ env: {}, flags: { port: '0', data: dataDir } });
  config.collector.decodeThreads = 0;
  config.logLevel = 'silent';
  const app = await startEmmsApp(config, () => undefined);
  try {
    const files = renderApiDocs(openApiDocument(app.server.routes));
    mkdirSync(outDir, { recursive: true });
    for (const name of readdirSync(outDir)) if (!files.has(name)) rmSync(join(outDir, name));
    for (const [name, text] of files) writeFileSync(join(outDir, name), text);
    console.log(`docs/api: ${files.size} files`);
  } finally {
    await app.stop();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
