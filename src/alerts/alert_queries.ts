/**
 * Reads and the one write of the alerts API: lists and single alerts (pending and firing ones
 * from memory, resolved ones from alerts.db), and acknowledgement, which stops escalation.
 */
import { alertView, type AlertRecord, type AlertView } from './alert.js';
import type { AlertFilter, AlertStore } from './alert_store.js';
import { AlertingError } from './alerting_error.js';
import type { ActiveAlert, RuleRuntime } from './rule_registry.js';
import type { SilenceRegistry } from './silences.js';

export interface AlertQueryDeps {
  store(): AlertStore;
  now(): number;
  /** A tenant's rule runtimes, which hold its active alerts. */
  runtimes(tenant: string): Iterable<RuleRuntime>;
  silences: SilenceRegistry;
}

export class AlertQueries {
  readonly #deps: AlertQueryDeps;

  constructor(deps: AlertQueryDeps) {
    this.#deps = deps;
  }

  activeRecords(tenant: string): AlertRecord[] {
    const out: AlertRecord[] = [];
    for (const rt of this.#deps.runtimes(tenant)) for (const a of rt.alerts.values()) out.push(a.rec);
    return out;
  }

  /** A tenant's pending and firing alerts from memory, resolved ones from the database; newest first. */
  list(tenant: string, filter: AlertFilter = {}): AlertView[] {
    const store = this.#deps.store();
    const now = this.#deps.now();
    const limit = filter.limit ?? 1000;
    let recs: AlertRecord[] = [];
    if (filter.state !== 'resolved') {
      recs = this.activeRecords(tenant).filter(
        (a) =>
          (filter.state === undefined || filter.state === 'active' || a.state === filter.state || (filter.state === 'acknowledged' && a.acknowledged_at !== null)) &&
          (filter.priority === undefined || a.priority === filter.priority) &&
          (filter.rule_id === undefined || a.rule_id === filter.rule_id),
      );
    }
    if (filter.state === undefined || filter.state === 'resolved') {
      recs = recs.concat(store.listAlerts(tenant, { ...filter, state: 'resolved', limit }));
    }
    recs.sort((a, b) => b.started_at - a.started_at || (a.alert_id < b.alert_id ? -1 : 1));
    return recs.slice(0, limit).map((a) => alertView(a, this.#deps.silences.isSilenced(a, now)));
  }

  /** The tenant's alert; another tenant's alert is not found. */
  get(tenant: string, alertId: string): AlertView | undefined {
    const store = this.#deps.store();
    const rec = this.#findActive(tenant, alertId)?.rec ?? store.getAlert(tenant, alertId);
    return rec ? alertView(rec, this.#deps.silences.isSilenced(rec, this.#deps.now())) : undefined;
  }

  acknowledge(tenant: string, alertId: string, by: string, comment = ''): AlertView {
    const store = this.#deps.store();
    if (typeof by !== 'string' || by.trim() === '' || by.length > 200) throw new AlertingError(`acknowledged_by=${JSON.stringify(by)} must be a non-empty string of at most 200 characters`, 400);
    if (typeof comment !== 'string' || comment.length > 2000) throw new AlertingError('comment must be a string of at most 2000 characters', 400);
    const a = this.#findActive(tenant, alertId);
    if (!a) {
      if (store.getAlert(tenant, alertId)) throw new AlertingError(`alert ${alertId} is resolved and cannot be acknowledged`, 409);
      throw new AlertingError(`alert ${JSON.stringify(alertId)} not found`, 404);
    }
    const now = this.#deps.now();
    const rec = a.rec;
    rec.acknowledged_by = by;
    rec.acknowledged_at = now;
    rec.ack_comment = comment;
    rec.updated_at = now;
    store.saveCycle([rec], [{ tenant, at: now, event: 'acknowledged', alert_id: rec.alert_id, rule_id: rec.rule_id, details: { by, comment } }]);
    return alertView(rec, this.#deps.silences.isSilenced(rec, now));
  }

  #findActive(tenant: string, alertId: string): ActiveAlert | undefined {
    for (const rt of this.#deps.runtimes(tenant)) for (const a of rt.alerts.values()) if (a.rec.alert_id === alertId) return a;
    return undefined;
  }
}
