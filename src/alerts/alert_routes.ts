/**
 * HTTP routes of the alerting (the seed's paths), mounted by the server. Handlers map
 * AlertingError to its status; everything else is the server's 500.
 */
import { HttpError, type HttpRequest, type HttpResponseSpec, type RouteDefinition } from '../http/route.js';
import { ALERT_STATES } from './alert.js';
import type { AlertFilter, HistoryFilter } from './alert_store.js';
import { AlertingError, type Alerting } from './alerting.js';
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

function timeParam(req: HttpRequest, name: string): number | undefined {
  const raw = req.query.get(name);
  if (raw === null) return undefined;
  const ms = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(ms)) throw new HttpError(400, `${name}=${JSON.stringify(raw)} must be epoch ms or an ISO-8601 time`);
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

export function alertRoutes(alerting: Alerting): RouteDefinition[] {
  return [
    // Static segments first so `/api/v1/alerts/rules` never reads as an alert id.
    { method: 'GET', pattern: '/api/v1/alerts/status', handler: guard(() => ({ body: alerting.status() })) },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/history',
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
        return { body: { history: alerting.history(filter) } };
      }),
    },
    { method: 'GET', pattern: '/api/v1/alerts/rules', handler: guard(() => ({ body: { rules: alerting.listRules() } })) },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/rules/:rule_id',
      handler: guard((req) => {
        const rule = alerting.getRule(req.params.rule_id ?? '');
        if (!rule) throw new HttpError(404, `rule ${JSON.stringify(req.params.rule_id)} not found`);
        return { body: rule };
      }),
    },
    { method: 'POST', pattern: '/api/v1/alerts/rules', handler: guard((req) => ({ status: 201, body: alerting.addRule(objectBody(req)) })) },
    { method: 'PUT', pattern: '/api/v1/alerts/rules/:rule_id', handler: guard((req) => ({ body: alerting.updateRule(req.params.rule_id ?? '', objectBody(req)) })) },
    {
      method: 'DELETE',
      pattern: '/api/v1/alerts/rules/:rule_id',
      handler: guard((req) => {
        alerting.deleteRule(req.params.rule_id ?? '');
        return { status: 204 };
      }),
    },
    { method: 'GET', pattern: '/api/v1/alerts/channels', handler: guard(() => ({ body: { channels: alerting.listChannels() } })) },
    { method: 'POST', pattern: '/api/v1/alerts/channels', handler: guard((req) => ({ status: 201, body: alerting.putChannel(objectBody(req)) })) },
    {
      method: 'DELETE',
      pattern: '/api/v1/alerts/channels/:channel_id',
      handler: guard((req) => {
        alerting.deleteChannel(req.params.channel_id ?? '');
        return { status: 204 };
      }),
    },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/remediations',
      handler: guard((req) => ({ body: { remediations: alerting.remediationAudit(limitParam(req, 1000)).map((e) => ({ ...e, at: new Date(e.at).toISOString(), until: e.until_ms === null ? null : new Date(e.until_ms).toISOString() })) } })),
    },
    { method: 'GET', pattern: '/api/v1/alerts', handler: guard((req) => ({ body: { alerts: alerting.listAlerts(alertFilter(req)) } })) },
    {
      method: 'GET',
      pattern: '/api/v1/alerts/:alert_id',
      handler: guard((req) => {
        const alert = alerting.getAlert(req.params.alert_id ?? '');
        if (!alert) throw new HttpError(404, `alert ${JSON.stringify(req.params.alert_id)} not found`);
        return { body: alert };
      }),
    },
    {
      method: 'PUT',
      pattern: '/api/v1/alerts/:alert_id/acknowledge',
      handler: guard((req) => {
        const body = (req.body ?? {}) as Record<string, unknown>;
        const by = body.acknowledged_by ?? body.user ?? body.by;
        const comment = body.comment ?? '';
        return { body: alerting.acknowledge(req.params.alert_id ?? '', by as string, comment as string) };
      }),
    },
    { method: 'POST', pattern: '/api/v1/silences', handler: guard((req) => ({ status: 201, body: alerting.addSilence(objectBody(req)) })) },
    { method: 'GET', pattern: '/api/v1/silences', handler: guard((req) => ({ body: { silences: alerting.listSilences(req.query.get('expired') === 'true') } })) },
    { method: 'DELETE', pattern: '/api/v1/silences/:silence_id', handler: guard((req) => ({ body: alerting.expireSilence(req.params.silence_id ?? '') })) },
  ];
}
