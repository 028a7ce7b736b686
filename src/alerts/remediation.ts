/**
 * Automatic remediation when an alert fires. Every action is audited (remediation_audit
 * table, per tenant), rate-limited per tenant and action type (sliding hour), and can run in
 * dry-run mode, where the audit records what would have happened and nothing else does.
 *
 * `command` actions run only for rules of the configuration file (`alerting.rules`), and only
 * executables the configuration names (remediation.commands, an allow-list: the rule refers to
 * the name, never to a path). The allow-list is a Map, so names such as `__proto__` or
 * `constructor` find nothing instead of an Object.prototype member. Webhooks go through the
 * egress guard like the channels (channels/http_post.ts).
 */
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { STRICT_EGRESS, type EgressPolicy } from '../net/egress_guard.js';
import type { Tags } from '../model/metric.js';
import type { AlertView } from './alert.js';
import type { AlertStore, AuditEntry, RemediationOutcome } from './alert_store.js';
import { postOnce } from './channels/http_post.js';
import type { BlockOrigin } from './ip_blocklist.js';
import { redactUrl } from './redact.js';
import type { AlertRule, RemediationAction, RemediationType } from './rule.js';

/** A series of a tenant, for enhanced monitoring. */
export interface TenantSeries {
  tenant: string;
  metricId: string;
  tags: Record<string, string>;
}

/** What other parts of EMMS implement so that remediation can act on them. */
export interface RemediationHooks {
  /**
   * Deny `ip` at EMMS's API until `untilMs` (epoch ms); returns what was done, for the audit.
   * Throws (e.g. BlockRefusedError) when the address may not be blocked.
   */
  blockIp(ip: string, untilMs: number, origin: BlockOrigin): string;
  /** Why blocking `ip` would be refused (protected, never seen as a client), or undefined. */
  blockRefusal(ip: string, origin: BlockOrigin): string | undefined;
  /** Raise collection frequency and anomaly sensitivity for the series until `untilMs`. */
  enhanceMonitoring(series: TenantSeries, untilMs: number): void;
}

export interface RemediationOptions {
  /** Audit what would be done, do nothing. Default false. */
  dryRun?: boolean;
  /** Executables `command` actions may run, by name → absolute path. Empty: commands off. */
  commands?: Readonly<Record<string, string>>;
  /** Executions per action type per sliding hour (dry runs count too). Default 30. */
  maxActionsPerHour?: number;
  commandTimeoutMs?: number;
  webhookTimeoutMs?: number;
  /** Where remediation webhooks may connect. Default STRICT_EGRESS. */
  egress?: EgressPolicy;
}

const HOUR_MS = 3_600_000;

/** The allow-list as a Map of own entries only (never a prototype member). */
export function commandAllowList(commands: Readonly<Record<string, string>> | undefined): ReadonlyMap<string, string> {
  return new Map(Object.entries(commands ?? {}));
}

export class RemediationExecutor {
  /** `tenant NUL type` → start times in the sliding hour. */
  readonly #recent = new Map<string, number[]>();
  readonly #inFlight = new Set<Promise<unknown>>();
  readonly #opts: Required<Omit<RemediationOptions, 'commands'>>;
  readonly #commands: ReadonlyMap<string, string>;

  constructor(
    private readonly store: AlertStore,
    private readonly hooks: RemediationHooks,
    private readonly now: () => number,
    options: RemediationOptions = {},
  ) {
    this.#opts = {
      dryRun: options.dryRun ?? false,
      maxActionsPerHour: options.maxActionsPerHour ?? 30,
      commandTimeoutMs: options.commandTimeoutMs ?? 10_000,
      webhookTimeoutMs: options.webhookTimeoutMs ?? 10_000,
      egress: options.egress ?? STRICT_EGRESS,
    };
    this.#commands = commandAllowList(options.commands);
    if (!Number.isInteger(this.#opts.maxActionsPerHour) || this.#opts.maxActionsPerHour < 0) {
      throw new RangeError(`remediation.maxActionsPerHour must be a non-negative integer; got ${this.#opts.maxActionsPerHour}`);
    }
    // Rate limits survive restarts: seed the window from the audit.
    for (const e of store.listAudit(null, 100_000, now() - HOUR_MS).reverse()) {
      if (e.outcome === 'ok' || e.outcome === 'dry_run') this.#window(e.tenant, e.action as RemediationType).push(e.at);
    }
  }

  get dryRun(): boolean {
    return this.#opts.dryRun;
  }

  /** True when the configuration allows the command name. */
  isAllowedCommand(name: string): boolean {
    return this.#commands.has(name);
  }

  /**
   * Runs the rule's actions for a firing alert of `tenant` in the background; never throws.
   * `commandsAllowed`: the rule comes from the configuration file.
   */
  run(tenant: string, alert: AlertView, rule: AlertRule, commandsAllowed: boolean): void {
    for (const action of rule.remediation) {
      const p = this.#runOne(tenant, alert, rule, action, commandsAllowed).catch(() => undefined);
      this.#inFlight.add(p);
      void p.finally(() => this.#inFlight.delete(p));
    }
  }

  /** Resolves when every started action has finished (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.all([...this.#inFlight]);
  }

  #window(tenant: string, type: RemediationType): number[] {
    const key = `${tenant}\u0000${type}`;
    let w = this.#recent.get(key);
    if (!w) this.#recent.set(key, (w = []));
    return w;
  }

  #takeToken(tenant: string, type: RemediationType, nowMs: number): boolean {
    const w = this.#window(tenant, type);
    while (w.length > 0 && w[0]! <= nowMs - HOUR_MS) w.shift();
    if (w.length >= this.#opts.maxActionsPerHour) return false;
    w.push(nowMs);
    return true;
  }

  async #runOne(tenant: string, alert: AlertView, rule: AlertRule, action: RemediationAction, commandsAllowed: boolean): Promise<void> {
    const at = this.now();
    const audit = (target: string, outcome: RemediationOutcome, detail: string, untilMs: number | null = null): void => {
      const entry: AuditEntry = {
        tenant, at, alert_id: alert.alert_id, rule_id: rule.rule_id, action: action.type, target,
        dry_run: this.#opts.dryRun, outcome, detail, until_ms: untilMs,
      };
      this.store.appendAudit(entry);
    };

    let target: string;
    let untilMs: number | null = null;
    let perform: () => Promise<string>;
    switch (action.type) {
      case 'webhook': {
        target = redactUrl(action.url);
        const body = JSON.stringify({ action: 'remediation', rule_id: rule.rule_id, alert });
        perform = async () => {
          await postOnce(action.url, body, {}, { timeoutMs: this.#opts.webhookTimeoutMs, egress: this.#opts.egress });
          return 'delivered';
        };
        break;
      }
      case 'command': {
        target = action.command;
        if (!commandsAllowed) {
          audit(target, 'refused', 'command actions run only for rules of the configuration file (alerting.rules)');
          return;
        }
        const path = this.#commands.get(action.command);
        if (path === undefined) {
          audit(target, 'refused', `command ${JSON.stringify(action.command)} is not allowed by the alerting configuration (remediation.commands)`);
          return;
        }
        perform = () => runCommand(path, JSON.stringify(alert), this.#opts.commandTimeoutMs);
        break;
      }
      case 'block_ip': {
        const tag = action.ip_tag ?? 'source_ip';
        const ip = alert.series.tags[tag];
        target = ip ?? `(no ${tag} tag)`;
        if (ip === undefined || isIP(ip.replace(/^::ffff:/i, '')) === 0) {
          audit(target, 'refused', `alert has no valid IP address in tag ${tag}`);
          return;
        }
        const origin: BlockOrigin = { tenant, rule_id: rule.rule_id, alert_id: alert.alert_id };
        const refusal = this.hooks.blockRefusal(ip, origin);
        if (refusal !== undefined) {
          audit(target, 'refused', refusal);
          return;
        }
        const until = (untilMs = at + action.duration_seconds * 1000);
        perform = async () => this.hooks.blockIp(ip, until, origin);
        break;
      }
      case 'enhanced_monitoring': {
        const metricId = alert.series.metric_id;
        const tags: Tags = alert.series.tags;
        target = `${metricId ?? '(group)'}${JSON.stringify(tags)}`;
        if (metricId === null) {
          audit(target, 'refused', 'a group alert spanning several metrics names no single series');
          return;
        }
        const until = (untilMs = at + action.duration_seconds * 1000);
        perform = async () => {
          this.hooks.enhanceMonitoring({ tenant, metricId, tags }, until);
          return `enhanced until ${new Date(until).toISOString()}`;
        };
        break;
      }
    }

    if (!this.#takeToken(tenant, action.type, at)) {
      audit(target, 'rate_limited', `more than ${this.#opts.maxActionsPerHour} ${action.type} actions in the last hour`, untilMs);
      return;
    }
    if (this.#opts.dryRun) {
      audit(target, 'dry_run', 'dry run: nothing done', untilMs);
      return;
    }
    try {
      audit(target, 'ok', await perform(), untilMs);
    } catch (err) {
      const refused = (err as Error).name === 'BlockRefusedError';
      audit(target, refused ? 'refused' : 'failed', (err as Error).message, untilMs);
    }
  }
}

/** Runs `path` without a shell, alert JSON on stdin; resolves with a stdout tail, rejects on failure. */
function runCommand(path: string, input: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(path, [], { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, shell: false });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { if (out.length < 4096) out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { if (err.length < 4096) err += d.toString(); });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(`exit 0${out ? `: ${out.trim().slice(0, 500)}` : ''}`);
      else reject(new Error(`${path} exited with ${code ?? signal}${err ? `: ${err.trim().slice(0, 500)}` : ''}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}
