/**
 * What `open()` rebuilds from alerts.db beyond rules, channels and silences (which their
 * registries restore): the active alerts, attached to their rules again, and the IP blocks
 * still running when EMMS stopped.
 */
import type { AlertRecord } from './alert.js';
import type { AlertStore } from './alert_store.js';
import type { IpBlocklist } from './ip_blocklist.js';
import type { RuleRegistry } from './rule_registry.js';

/** Pending and firing alerts go back to their rules; those whose rule is gone are resolved. */
export function restoreAlerts(store: AlertStore, rules: RuleRegistry, now: number): void {
  const orphans: AlertRecord[] = [];
  for (const rec of store.loadActiveAlerts()) {
    const rt = rules.runtime(rec.tenant, rec.rule_id);
    if (!rt) {
      rec.state = 'resolved';
      rec.resolved_at = now;
      rec.updated_at = now;
      orphans.push(rec);
      continue;
    }
    rt.alerts.set(rec.group_key, { rec, seen: 0 });
  }
  if (orphans.length > 0) {
    store.saveCycle(orphans, orphans.map((r) => ({ tenant: r.tenant, at: now, event: 'resolved' as const, alert_id: r.alert_id, rule_id: r.rule_id, details: { reason: 'rule no longer exists' } })));
  }
}

/**
 * Blocks still running are re-applied; expired ones and those the blocklist now refuses
 * (loopback, administrator networks: the configuration may have changed) are deleted.
 */
export function restoreBlocks(store: AlertStore, blocklist: IpBlocklist): void {
  for (const b of store.loadBlocks()) {
    if (!blocklist.restore(b)) store.deleteBlock(b.tenant, b.ip);
  }
}
