/**
 * Reduces a copy of a metrics database (a backup's staged snapshot, never the live file) to
 * one tenant: its series, their chunks and their points not yet cut, nothing of any other
 * tenant. Write-ahead records hold every tenant's points side by side, so the copy is opened
 * as a store (replaying them into heads), flushed into chunks, and only then are the other
 * tenants' chunks and series rows deleted; the file is then vacuumed, so no byte of another
 * tenant's data stays behind in free space.
 */
import { openSqlite } from '../crypto/sqlite_cipher.js';
import { StorageEngine } from '../storage/storage_engine.js';
import { SqliteBackend } from '../storage/sqlite/sqlite_backend.js';

export interface TenantExtract {
  series: number;
  points: number;
}

export async function reduceStoreToTenant(copyPath: string, tenant: string): Promise<TenantExtract> {
  const store = await StorageEngine.open({ backend: SqliteBackend.open({ path: copyPath }), chunkEncoding: 'inline' });
  let kept: TenantExtract = { series: 0, points: 0 };
  try {
    await store.checkpoint();
    await store.write((tx) => {
      for (const sid of [...store.chunks.seriesWithChunks()]) {
        if (store.catalog.get(sid)?.tenant === tenant) continue;
        store.chunks.delete(tx, sid, new Set(store.chunks.chunksOf(sid).map((c) => c.id)));
      }
      for (const info of store.catalog.all()) {
        if (info.tenant !== tenant) tx.deleteSeries({ id: info.id, tenant: info.tenant, metricId: info.metricId, canonicalTags: info.canonicalTags, metricType: info.metricType });
      }
    }, undefined, { deletesChunks: true });
    const names = store.catalog.tenant(tenant);
    let points = 0;
    for (const [, list] of names.metrics()) for (const info of list) for (const c of store.chunks.chunksOf(info.id)) points += c.count;
    kept = { series: names.size, points };
  } finally {
    await store.close();
  }
  // close() vacuums only when pages were freed; a deleted row's bytes stay in a page that is
  // still in use until the file is rewritten, so it is rewritten here whatever close() did.
  const db = openSqlite(copyPath);
  try {
    db.pragma('journal_mode = DELETE');
    db.exec('VACUUM');
  } finally {
    db.close();
  }
  return kept;
}
