/**
 * HTTP routes of the alerting (the seed's paths), mounted by the server. Every handler acts on
 * `tenantOf(req)`, the credential's tenant, never one from the body or the query; another
 * tenant's rule, alert, silence, channel or block answers 404. AlertingError maps to its
 * status; QuotaExceededError passes through (the server answers 429); everything else is the
 * server's 500.
 *
 * Access (src/http/route.ts roles):
 * - reader: views of alerts, their history and status, rules and silences;
 * - writer: acknowledging an alert. Acknowledgement is operational (the on-call engineer
 *   saying "mine"), changes no configuration and is recorded with who did it, so it does not
 *   need admin; a reader (dashboards, read-only keys) may not do it;
 * - admin: rules, channels (views too: they name internal endpoints), silences, remediation
 *   audit, blocked addresses.
 */
import { HttpError, principalOf, tenantOf, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { isStorableTime, timeInputMs } from '../model/time.js';
import { ALERT_STATES } from './alert.js';
import { ALERT_SCHEMAS } from './alert_route_schemas.js';
import type { AlertFilter, HistoryFilter } from './alert_store.js';
import { AlertingError, type Alerting } from './alerting.js';
import type { BlockEntry } from './ip_blocklist.js';
import { PRIORITIES, type Priority } from './rule.js';

function guard(fn: (req: HttpRequest) => HttpResponseSpec): (req: HttpRequest) => HttpResponseSpec {
  return (req) => {
    try {
      return fn(req);
    } catch (err) {
      if (err instanceof AlertingError) throw new HttpError(err.status, err.message);
      throw err;
    }
  };
}

function limitParam(req: HttpRequest, fallback: number): number {
  const raw = req.query.get('limit');
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 100_000) throw new HttpError(400, `limit=${JSON.stringify(raw)} must be an integer in [1, 100000]`);
  return n;
}

/** Epoch ms or ISO-8601, read as every time input is (model/time.ts: no offset means UTC). */
function timeParam(req: HttpRequest, name: string): number | undefined {
  const raw = req.query.get(name);
  if (raw === null) return undefined;
  const ms = timeInputMs(raw);
  if (ms === undefined || !isStorableTime(ms)) throw new HttpError(400, `${name}=${JSON.stringify(raw)} must be epoch ms or an ISO-8601 time in [1970, 2200)`);
  return ms;
}

function alertFilter(req: HttpRequest): AlertFilter {
  const filter: AlertFilter = { limit: limitParam(req, 1000) };
  const state = req.query.get('state');
  if (state !== null) {
    const allowed = [...ALERT_STATES, 'active', 'acknowledged'];
    if (!allowed.includes(state)) throw new HttpError(400, `state=${JSON.stringify(state)} must be one of ${allowed.join(', ')}`);
    filter.state = state as AlertFilter['state'];
  }
  const priority = req.query.get('priority');
  if (priority !== null) {
    const p = priority.toUpperCase();
    if (!(PRIORITIES as readonly string[]).includes(p)) throw new HttpError(400, `priority=${JSON.stringify(priority)} must be one of ${PRIORITIES.join(', ')}`);
    filter.priority = p as Priority;
  }
  const rule = req.query.get('rule') ?? req.query.get('rule_id');
  if (rule !== null) filter.rule_id = rule;
  return filter;
}

function objectBody(req: HttpRequest): Record<string, unknown> {
  if (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body)) throw new HttpError(400, 'request body must be a JSON object');
  return req.body as Record<string, unknown>;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function blockView(b: BlockEntry): Record<string, unknown> {
  return { ip: b.ip, until: iso(b.until_ms), rule_id: b.rule_id, alert_id: b.alert_id, created_at: iso(b.created_at) };
}

export function alertRoutes(alerting: Alerting): RouteDefinition[] {
  return [
    // Static segments first so `/api/v1/alerts/rules` never reads as an alert id.
    { method: 'GET', pattern: '/api/v1/alerts/status', access: 'reader', schema: ALERT_SCHEMAS.status, handler: guard((req) => ({ body: alerting.status(tenantOf(req)) })) },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/history',
      access: 'reader',
      schema: ALERT_SCHEMAS.history,
      handler: guard((req) => {
        const filter: HistoryFilter = { limit: limitParam(req, 1000) };
        const alertId = req.query.get('alert_id');
        const ruleId = req.query.get('rule') ?? req.query.get('rule_id');
        if (alertId !== null) filter.alert_id = alertId;
        if (ruleId !== null) filter.rule_id = ruleId;
        const since = timeParam(req, 'since');
        const until = timeParam(req, 'until');
        if (since !== undefined) filter.sinceMs = since;
        if (until !== undefined) filter.untilMs = until;
        return { body: { history: alerting.history(tenantOf(req), filter) } };
      }),
    },
    { method: 'GET', pattern: '/api/v1/alerts/rules', access: 'reader', schema: ALERT_SCHEMAS.listRules, handler: guard((req) => ({ body: { rules: alerting.listRules(tenantOf(req)) } })) },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/rules/:rule_id',
      access: 'reader',
      schema: ALERT_SCHEMAS.getRule,
      handler: guard((req) => {
        const rule = alerting.getRule(tenantOf(req), req.params.rule_id ?? '');
        if (!rule) throw new HttpError(404, `rule ${JSON.stringify(req.params.rule_id)} not found`);
        return { body: rule };
      }),
    },
    { method: 'POST', pattern: '/api/v1/alerts/rules', access: 'admin', schema: ALERT_SCHEMAS.addRule, handler: guard((req) => ({ status: 201, body: alerting.addRule(tenantOf(req), objectBody(req)) })) },
    { method: 'PUT', pattern: '/api/v1/alerts/rules/:rule_id', access: 'admin', schema: ALERT_SCHEMAS.updateRule, handler: guard((req) => ({ body: alerting.updateRule(tenantOf(req), req.params.rule_id ?? '', objectBody(req)) })) },
    {
      method: 'DELETE',
      pattern: '/api/v1/alerts/rules/:rule_id',
      access: 'admin',
      schema: ALERT_SCHEMAS.deleteRule,
      handler: guard((req) => {
        alerting.deleteRule(tenantOf(req), req.params.rule_id ?? '');
        return { status: 204 };
      }),
    },
    { method: 'GET', pattern: '/api/v1/alerts/channels', access: 'admin', schema: ALERT_SCHEMAS.listChannels, handler: guard((req) => ({ body: { channels: alerting.listChannels(tenantOf(req)) } })) },
    { method: 'GET', pattern: '/api/v1/alerts/channels/:channel_id', access: 'admin', schema: ALERT_SCHEMAS.getChannel, handler: guard((req) => ({ body: alerting.getChannel(tenantOf(req), req.params.channel_id ?? '') })) },
    { method: 'POST', pattern: '/api/v1/alerts/channels', access: 'admin', schema: ALERT_SCHEMAS.putChannel, handler: guard((req) => ({ status: 201, body: alerting.putChannel(tenantOf(req), objectBody(req)) })) },
    {
      method: 'DELETE',
      pattern: '/api/v1/alerts/channels/:channel_id',
      access: 'admin',
      schema: ALERT_SCHEMAS.deleteChannel,
      handler: guard((req) => {
        alerting.deleteChannel(tenantOf(req), req.params.channel_id ?? '');
        return { status: 204 };
      }),
    },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/remediations',
      access: 'admin',
      schema: ALERT_SCHEMAS.remediations,
      handler: guard((req) => ({ body: { remediations: alerting.remediationAudit(tenantOf(req), limitParam(req, 1000)).map((e) => ({ ...e, at: iso(e.at), until: iso(e.until_ms) })) } })),
    },
    { method: 'GET', pattern: '/api/v1/alerts/blocked-ips', access: 'admin', schema: ALERT_SCHEMAS.blockedIps, handler: guard((req) => ({ body: { blocked_ips: alerting.listBlockedIps(tenantOf(req)).map(blockView) } })) },
    {
      method: 'DELETE',
      pattern: '/api/v1/alerts/blocked-ips/:ip',
      access: 'admin',
      schema: ALERT_SCHEMAS.unblockIp,
      handler: guard((req) => {
        alerting.unblockIp(tenantOf(req), req.params.ip ?? '');
        return { status: 204 };
      }),
    },
    { method: 'GET', pattern: '/api/v1/alerts', access: 'reader', schema: ALERT_SCHEMAS.listAlerts, handler: guard((req) => ({ body: { alerts: alerting.listAlerts(tenantOf(req), alertFilter(req)) } })) },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/:alert_id',
      access: 'reader',
      schema: ALERT_SCHEMAS.getAlert,
      handler: guard((req) => {
        const alert = alerting.getAlert(tenantOf(req), req.params.alert_id ?? '');
        if (!alert) throw new HttpError(404, `alert ${JSON.stringify(req.params.alert_id)} not found`);
        return { body: alert };
      }),
    },
    {
      method: 'PUT',
      pattern: '/api/v1/alerts/:alert_id/acknowledge',
      access: 'writer',
      schema: ALERT_SCHEMAS.acknowledge,
      handler: guard((req) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        if (typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object');
        // Who acknowledged: as the body says (a person's name), else the credential's id.
        const by = body.acknowledged_by ?? body.user ?? body.by ?? principalOf(req).id;
        const comment = body.comment ?? '';
        return { body: alerting.acknowledge(tenantOf(req), req.params.alert_id ?? '', by as string, comment as string) };
      }),
    },
    { method: 'POST', pattern: '/api/v1/silences', access: 'admin', schema: ALERT_SCHEMAS.addSilence, handler: guard((req) => ({ status: 201, body: alerting.addSilence(tenantOf(req), objectBody(req)) })) },
    { method: 'GET', pattern: '/api/v1/silences', access: 'reader', schema: ALERT_SCHEMAS.listSilences, handler: guard((req) => ({ body: { silences: alerting.listSilences(tenantOf(req), req.query.get('expired') === 'true') } })) },
    { method: 'DELETE', pattern: '/api/v1/silences/:silence_id', access: 'admin', schema: ALERT_SCHEMAS.expireSilence, handler: guard((req) => ({ body: alerting.expireSilence(tenantOf(req), req.params.silence_id ?? '') })) },
  ];
}
