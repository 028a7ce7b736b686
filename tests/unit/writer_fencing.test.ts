/**
 * A node that lost the writer lease of a shared store stores nothing more: the engine refuses
 * every write transaction with WriterLeaseLostError (nothing of the batch stored), and the
 * server answers it 503 with Retry-After so a client retries on another node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore, readStoredPoints } from './sqlite_store_kit.js';
import { WriterLeaseLostError } from '../../src/storage/storage_errors.js';
import { errorToResponse } from '../../src/server/http_exchange.js';

const dir = mkdtempSync(join(tmpdir(), 'emms-fencing-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const batch = (t: number, v: number) => ({ seriesIds: Uint32Array.of(1), timestamps: Float64Array.of(t), values: Float64Array.of(v), length: 1 });

describe('writer fencing', () => {
  it('refuses commits once mayWrite turns false, storing nothing of them', async () => {
    let mayWrite = true;
    const path = join(dir, 'fenced.db');
    const store = await openSqliteStore({ path, chunkEncoding: 'inline', mayWrite: () => mayWrite });
    const series = store.catalog.tenant('default').create('m', 'gauge', {}, '');
    expect(series.id).toBe(1);
    await store.commit([batch(1000, 1)]);
    mayWrite = false;
    const refused = await store.commit([batch(2000, 2)]).then(() => undefined, (err: unknown) => err);
    expect(refused).toBeInstanceOf(WriterLeaseLostError);
    expect((refused as Error).message).toMatch(/no longer holds the writer lease/);
    await expect(store.checkpoint()).rejects.toBeInstanceOf(WriterLeaseLostError);
    await store.abandon();
    const reopened = await openSqliteStore({ path, chunkEncoding: 'inline' });
    try {
      const points = await readStoredPoints(reopened, 1);
      expect(Array.from(points.timestamps)).toEqual([1000]);
      expect(Array.from(points.values)).toEqual([1]);
    } finally {
      await reopened.close();
    }
  });

  it('is answered 503 with Retry-After, not 500', () => {
    const answer = errorToResponse(new WriterLeaseLostError('postgres://emms:***@db/emms'));
    expect(answer.status).toBe(503);
    expect(answer.headers).toEqual({ 'retry-after': '1' });
    expect(answer.body.error).toMatch(/writer lease/);
  });
});
