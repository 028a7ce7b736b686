/**
 * Tenant names: what API keys, JWT claims, `X-Emms-Tenant` and the engine's `forTenant` accept.
 * One tenant's data is never visible to another; see README "Security".
 */
export const TENANT_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;
/** The tenant of embedders who never name one, and the home of the bootstrap operator. */
export const DEFAULT_TENANT = 'default';
