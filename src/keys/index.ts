/**
 * Key infrastructure on top of an engine, for embedding (`emms/keys`): the key inventory and
 * its events per tenant, the derived `crypto.key.*` series, policies, and audit-trail import.
 *
 * @example
 * ```ts
 * const keys = await KeyService.open(ms, { policy: parseKeyPolicy(mainJson.key_policies) });
 * keys.start();                                   // periodic expiry, gauges and policy checks, every tenant
 * keys.registerKey({ key_id: 'payments-dek', key_type: 'encryption', algorithm: 'AES-256-GCM', owner: 'payments', backend: 'kms' });
 * await keys.ingestEvents([{ key_id: 'payments-dek', event_type: 'encrypt', count: 10 }]);
 * const acme = keys.forTenant('acme');            // another tenant: its own keys, series and violations
 * await keys.close();
 * ```
 */
export { KeyService, keyEventIngestor, type KeyServiceOptions, type KeyEventFrameContext } from './key_service.js';
export { AUTH_FAILURES_METRIC } from './point_batch.js';
export { keyRoutes } from './key_routes.js';
export { parseKeyPolicy, KeyPolicyConfigError, type KeyPolicy } from './key_policy.js';
export { KEY_EVENT_TYPES, EVENT_COUNTER_METRIC, KeyEventValidationError, type KeyEvent, type KeyEventType } from './key_events.js';
export { KEY_TYPES, KEY_STATES, KEY_BACKENDS, KeyValidationError, type KeyRecord } from './key_model.js';
