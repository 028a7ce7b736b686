/**
 * The notification channels of every tenant: their configs (main.json's, in tenant `default`;
 * the API's; channels implemented in code), installed in the NotificationDispatcher that
 * delivers to them, persisted (sealed) in alerts.db, and counted against the tenant's
 * `channels` quota. In the dispatcher a channel is known by `channelKey(tenant, id)`, so two
 * tenants may both have an `ops` channel. Which rules still use a channel is the rule
 * registry's answer.
 */
import { DEFAULT_TENANT } from '../model/tenant.js';
import { QuotaExceededError, type QuotaLookup } from '../tenancy/quota.js';
import type { AlertStore } from './alert_store.js';
import { AlertingError } from './alerting_error.js';
import { ChannelConfigError, type NotificationChannel } from './channels/channel.js';
import { createChannel, redactChannelConfig, validateChannelConfig, type ChannelContext } from './channels/create_channel.js';
import type { ChannelStats, NotificationDispatcher } from './notification_dispatcher.js';

const KEY_SEPARATOR = '\u0000';

/** The dispatcher's name of a tenant's channel. */
export function channelKey(tenant: string, channelId: string): string {
  return tenant + KEY_SEPARATOR + channelId;
}

export function splitChannelKey(key: string): { tenant: string; channelId: string } {
  const i = key.indexOf(KEY_SEPARATOR);
  return { tenant: key.slice(0, i), channelId: key.slice(i + 1) };
}

export interface ChannelRegistryDeps {
  store(): AlertStore;
  dispatcher(): NotificationDispatcher;
  context: ChannelContext;
  quotas: QuotaLookup;
  /** Rules of the tenant that name the channel; a used channel cannot be deleted. */
  usersOf(tenant: string, channelId: string): string[];
  log(level: 'warn' | 'info', message: string): void;
}

/** A channel as the dispatcher sees it: the same channel, known under its tenant-scoped key. */
class KeyedChannel implements NotificationChannel {
  constructor(
    readonly id: string,
    readonly inner: NotificationChannel,
  ) {}

  get type(): string {
    return this.inner.type;
  }

  get refreshIntervalMs(): number | undefined {
    return this.inner.refreshIntervalMs;
  }

  send(batch: Parameters<NotificationChannel['send']>[0]): Promise<void> {
    // The channel itself (and what it sends, e.g. a webhook's channel_id) sees its own id.
    return this.inner.send({ ...batch, channel_id: this.inner.id });
  }

  close(): void {
    this.inner.close?.();
  }
}

export class ChannelRegistry {
  /** Tenant → channel id → config (plaintext in memory; sealed in the store). */
  readonly #configs = new Map<string, Map<string, Record<string, unknown>>>();
  readonly #deps: ChannelRegistryDeps;

  constructor(deps: ChannelRegistryDeps) {
    this.#deps = deps;
  }

  ids(tenant: string): ReadonlySet<string> {
    return new Set(this.#configs.get(tenant)?.keys() ?? []);
  }

  has(tenant: string, channelId: string): boolean {
    return this.#configs.get(tenant)?.has(channelId) ?? false;
  }

  clear(): void {
    this.#configs.clear();
  }

  /**
   * Code channels, then stored ones, then main.json's (tenant `default`; they replace stored
   * ones of the same id). A stored channel that no longer validates (say, an email channel
   * from before SMTP servers were named) is skipped and logged, not fatal.
   */
  restore(registered: readonly NotificationChannel[], configured: readonly unknown[], defaultChannels: readonly string[]): void {
    const store = this.#deps.store();
    for (const channel of registered) this.#register(DEFAULT_TENANT, channel);
    for (const { tenant, config } of store.loadChannels()) {
      try {
        this.#install(tenant, validateChannelConfig(config, this.#deps.context));
      } catch (err) {
        this.#deps.log('warn', `channel ${tenant}/${String(config.id)} not loaded: ${(err as Error).message}`);
      }
    }
    configured.forEach((raw, i) => {
      let c: Record<string, unknown>;
      try {
        c = validateChannelConfig(raw, this.#deps.context);
        this.#install(DEFAULT_TENANT, c);
      } catch (err) {
        throw new RangeError(`alerting.channels[${i}]: ${(err as Error).message}`);
      }
      store.saveChannel(DEFAULT_TENANT, c.id as string, c);
    });
    for (const id of defaultChannels) {
      if (!this.has(DEFAULT_TENANT, id)) throw new RangeError(`alerting.default_channels names unknown channel ${JSON.stringify(id)}`);
    }
  }

  list(tenant: string): Array<Record<string, unknown>> {
    const stats = this.#statsByKey();
    return [...(this.#configs.get(tenant)?.values() ?? [])].map((c) => this.#view(tenant, c, stats));
  }

  get(tenant: string, channelId: string): Record<string, unknown> {
    const c = this.#configs.get(tenant)?.get(channelId);
    if (!c) throw new AlertingError(`channel ${JSON.stringify(channelId)} not found`, 404);
    return this.#view(tenant, c, this.#statsByKey());
  }

  /** Delivery counters of the tenant's channels. */
  stats(tenant: string): ChannelStats[] {
    const out: ChannelStats[] = [];
    for (const s of this.#deps.dispatcher().stats()) {
      const { tenant: t, channelId } = splitChannelKey(s.channel_id);
      if (t === tenant) out.push({ ...s, channel_id: channelId });
    }
    return out;
  }

  /** A channel implemented in code; not persisted. */
  register(tenant: string, channel: NotificationChannel): void {
    this.#register(tenant, channel);
  }

  /** Adds or replaces a channel (persisted); QuotaExceededError past the tenant's `channels`. */
  put(tenant: string, raw: unknown): Record<string, unknown> {
    const store = this.#deps.store();
    let config: Record<string, unknown>;
    let channel: NotificationChannel;
    try {
      config = validateChannelConfig(raw, this.#deps.context);
      channel = createChannel(config, this.#deps.context);
    } catch (err) {
      if (err instanceof ChannelConfigError || err instanceof RangeError) throw new AlertingError(err.message, 400);
      throw err;
    }
    const id = config.id as string;
    const count = this.#configs.get(tenant)?.size ?? 0;
    const limit = this.#deps.quotas(tenant).channels;
    if (!this.has(tenant, id) && count >= limit) {
      channel.close?.();
      throw new QuotaExceededError(tenant, 'channels', limit, `the tenant has ${count} notification channels`);
    }
    store.saveChannel(tenant, id, config);
    this.#set(tenant, channel, config);
    return redactChannelConfig(config);
  }

  delete(tenant: string, channelId: string): void {
    const store = this.#deps.store();
    if (!this.has(tenant, channelId)) throw new AlertingError(`channel ${JSON.stringify(channelId)} not found`, 404);
    const users = this.#deps.usersOf(tenant, channelId);
    if (users.length > 0) throw new AlertingError(`channel ${JSON.stringify(channelId)} is used by rules ${users.join(', ')}`, 409);
    this.#deps.dispatcher().removeChannel(channelKey(tenant, channelId));
    this.#configs.get(tenant)!.delete(channelId);
    store.deleteChannel(tenant, channelId);
  }

  #statsByKey(): Map<string, ChannelStats> {
    return new Map(this.#deps.dispatcher().stats().map((s) => [s.channel_id, s]));
  }

  #view(tenant: string, c: Record<string, unknown>, stats: Map<string, ChannelStats>): Record<string, unknown> {
    const s = stats.get(channelKey(tenant, c.id as string));
    return { ...redactChannelConfig(c), stats: s ? { ...s, channel_id: c.id } : null };
  }

  #register(tenant: string, channel: NotificationChannel): void {
    this.#set(tenant, channel, { id: channel.id, type: channel.type, registered_in_code: true });
  }

  #install(tenant: string, config: Record<string, unknown>): void {
    this.#set(tenant, createChannel(config, this.#deps.context), config);
  }

  #set(tenant: string, channel: NotificationChannel, config: Record<string, unknown>): void {
    this.#deps.dispatcher().setChannel(new KeyedChannel(channelKey(tenant, channel.id), channel));
    let byId = this.#configs.get(tenant);
    if (!byId) this.#configs.set(tenant, (byId = new Map()));
    byId.set(channel.id, config);
  }
}
