/**
 * `GET /api/v1/audit`: the audit trail, newest-last, in pages. A tenant's admin sees their own
 * tenant's records; an operator sees every tenant's, or one with `tenant=`.
 */
import { HttpError, principalOf, type RouteDefinition } from '../http/route.js';
import { timeInputMs } from '../model/time.js';
import type { AuditTrail } from './audit_trail.js';

export const AUDIT_PAGE_MAX = 1000;
/** Lines one request may read before it answers with a cursor, so a sparse filter stays quick. */
const AUDIT_SCAN_MAX = 200_000;

function timeParameter(name: string, raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  const ms = timeInputMs(/^\d+$/.test(raw) ? Number(raw) : raw);
  if (ms === undefined) throw new HttpError(400, `${name}=${JSON.stringify(raw)} must be epoch milliseconds or an ISO-8601 time`, { error: `${name} is not a time`, parameter: name });
  return ms;
}

function countParameter(name: string, raw: string | null, fallback: number, max: number): number {
  if (raw === null || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw new HttpError(400, `${name}=${JSON.stringify(raw)} must be an integer in [0, ${max}]`, { error: `${name} is out of range`, parameter: name });
  return n;
}

export function auditRoutes(trail: AuditTrail): RouteDefinition[] {
  return [
    {
      method: 'GET',
      pattern: '/api/v1/audit',
      access: 'admin',
      schema: {
        summary: 'Audit records (state-changing requests, refused authentications, reloads, erasures), oldest first, in pages',
        tag: 'audit',
        query: {
          since: { description: 'Records at or after this time (epoch ms or ISO-8601)', schema: { type: 'string' } },
          until: { description: 'Records before this time (epoch ms or ISO-8601)', schema: { type: 'string' } },
          after_seq: { description: 'Cursor: records after this sequence number (the previous page\'s next_after_seq)', schema: { type: 'integer', minimum: 0 } },
          limit: { description: `Records per page (default 100, at most ${AUDIT_PAGE_MAX})`, schema: { type: 'integer', minimum: 1, maximum: AUDIT_PAGE_MAX } },
          tenant: { description: 'Operators only: one tenant\'s records (default: every tenant)', schema: { type: 'string' } },
        },
        responses: {
          200: {
            description: 'A page of records and the cursor of the next one (absent at the end of the log)',
            schema: {
              type: 'object',
              required: ['records'],
              properties: {
                records: { type: 'array', items: { type: 'object' } },
                next_after_seq: { type: 'integer' },
              },
            },
          },
          400: { description: 'A parameter is invalid; `parameter` names it' },
          403: { description: 'Not an admin of this tenant, or `tenant=` sent by a tenant admin' },
        },
      },
      handler: (req) => {
        const principal = principalOf(req);
        const tenantParameter = req.query.get('tenant');
        let tenant: string | undefined = principal.tenant;
        if (principal.role === 'operator') tenant = tenantParameter === null || tenantParameter === '' ? undefined : tenantParameter;
        else if (tenantParameter !== null && tenantParameter !== principal.tenant) {
          throw new HttpError(403, `tenant=${JSON.stringify(tenantParameter)}: a tenant admin reads only their own tenant's audit records`);
        }
        const limit = countParameter('limit', req.query.get('limit'), 100, AUDIT_PAGE_MAX);
        const page = trail.page({
          sinceMs: timeParameter('since', req.query.get('since')),
          untilMs: timeParameter('until', req.query.get('until')),
          afterSeq: countParameter('after_seq', req.query.get('after_seq'), 0, Number.MAX_SAFE_INTEGER),
          tenant,
          limit: Math.max(1, limit),
          maxScanLines: AUDIT_SCAN_MAX,
        });
        return { body: { records: page.records, ...(page.nextAfterSeq !== undefined ? { next_after_seq: page.nextAfterSeq } : {}) } };
      },
    },
  ];
}
