/**
 * Alerts: the active list (priority, age, state) with acknowledge and silence, the silences
 * with un-silence, the rules with an editor that shows the API's validation message as is,
 * and the history with resolution times. Actions a role may not take are not shown: ack needs
 * writer, silences and rules need admin (the API refuses them anyway).
 */
import { ApiError } from './api.js';
import { h, table } from './dom.js';
import { tile, type ViewContext } from './panel.js';
import { formatDuration, formatTime, formatValue } from './units.js';

interface Alert {
  alert_id: string;
  rule_id: string;
  name: string;
  state: string;
  priority: string;
  series: { metric_id: string | null; tags: Record<string, string> };
  value: number;
  started_at: string;
  fired_at: string | null;
  resolved_at: string | null;
  acknowledged: boolean;
  acknowledged_by: string | null;
  silenced: boolean;
}

interface Silence {
  silence_id: string;
  matchers: { rule_id?: string; priority?: string; tags?: Record<string, string> };
  starts_at: string;
  ends_at: string;
  comment: string;
  state?: string;
}

interface Rule {
  rule_id: string;
  name: string;
  metric_pattern: string;
  priority: string;
  comparison: string;
  threshold_value: number | null;
  enabled?: boolean;
}

const DURATIONS: ReadonlyArray<readonly [string, number]> = [['15 min', 900], ['1 h', 3600], ['4 h', 14_400], ['24 h', 86_400], ['7 d', 604_800]];

const RULE_TEMPLATE = JSON.stringify({ rule_id: 'cpu_high', name: 'CPU above 90 %', metric_pattern: 'system.cpu.usage_total', pattern_mode: 'glob', threshold_value: 90, comparison: '>', duration_seconds: 60, priority: 'HIGH' }, null, 2);

function parseTags(text: string): Record<string, string> | undefined {
  const tags: Record<string, string> = {};
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new Error(`tag matcher ${JSON.stringify(part)} must be key=value`);
    tags[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return Object.keys(tags).length === 0 ? undefined : tags;
}

/** The outcome of the last action, shown again after the view re-renders with fresh data. */
let lastOutcome: { text: string; ok: boolean } | undefined;

export function alertsView(ctx: ViewContext, rerender: () => void): HTMLElement {
  const { api } = ctx;
  const status = h('p', { class: `status${lastOutcome === undefined ? '' : lastOutcome.ok ? ' ok' : ' error'}`, role: 'status', 'data-testid': 'alerts-status' }, lastOutcome?.text ?? '');
  lastOutcome = undefined;
  const summary = h('div', { class: 'tiles' });
  const active = h('div', { class: 'scroll' });
  const silenceForm = h('div', {});
  const silences = h('div', { class: 'scroll' });
  const rules = h('div', { class: 'scroll' });
  const editor = h('div', {});
  const history = h('div', { class: 'scroll' });
  const resolution = h('div', { class: 'scroll' });
  const root = h('div', { class: 'view' }, h('h2', {}, 'Alerts'), status, summary,
    h('h3', {}, 'Active'), active, silenceForm, h('h3', {}, 'Silences'), silences,
    h('h3', {}, 'Rules'), rules, editor, h('h3', {}, 'Resolution times'), resolution, h('h3', {}, 'History'), history);

  const act = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
      lastOutcome = { text: `${what}: done`, ok: true };
      rerender();
    } catch (err) {
      status.textContent = `${what}: ${(err as Error).message}`;
      status.className = 'status error';
    }
  };

  const matcherRule = h('input', { name: 'rule_id', placeholder: 'rule id', 'aria-label': 'Silence matcher: rule id' });
  const matcherPriority = h('select', { name: 'priority', 'aria-label': 'Silence matcher: priority' }, h('option', { value: '' }, 'any priority'), ...['CRITICAL', 'HIGH', 'MEDIUM', 'LOW'].map((p) => h('option', { value: p }, p)));
  const matcherTags = h('input', { name: 'tags', placeholder: 'tags: key=value, …', 'aria-label': 'Silence matcher: tags' });
  const duration = h('select', { name: 'duration', 'aria-label': 'Silence duration' }, ...DURATIONS.map(([label, s]) => h('option', { value: s }, label)));
  const comment = h('input', { name: 'comment', placeholder: 'comment', 'aria-label': 'Silence comment' });
  if (api.can('admin')) {
    silenceForm.append(h('form', { class: 'inline', 'data-testid': 'silence-form', onsubmit: (e: Event) => {
      e.preventDefault();
      void act('silence', () => {
        const body: Record<string, unknown> = { duration_seconds: Number(duration.value), comment: comment.value, created_by: api.session?.principal.id };
        const matchers: Record<string, unknown> = {};
        if (matcherRule.value.trim() !== '') matchers.rule_id = matcherRule.value.trim();
        if (matcherPriority.value !== '') matchers.priority = matcherPriority.value;
        const tags = parseTags(matcherTags.value);
        if (tags !== undefined) matchers.tags = tags;
        return api.request('POST', '/api/v1/silences', { ...body, matchers });
      });
    } }, h('strong', {}, 'Silence'), matcherRule, matcherPriority, matcherTags, duration, comment, h('button', { type: 'submit' }, 'Silence')));
  }

  void api.get<{ alerts: Alert[] }>('/api/v1/alerts?state=active').then(({ alerts }) => {
    const now = Date.now();
    summary.replaceChildren(
      tile('alerts-active', 'Active alerts', alerts.length, 'count'),
      tile('alerts-critical', 'Critical', alerts.filter((a) => a.priority === 'CRITICAL').length, 'count'),
      tile('alerts-unacked', 'Not acknowledged', alerts.filter((a) => !a.acknowledged).length, 'count'),
    );
    active.replaceChildren(table(['Priority', 'Alert', 'Series', 'State', 'Age', 'Value', ''], alerts, (a) => [
      h('span', { class: `prio prio-${a.priority.toLowerCase()}` }, a.priority), a.name,
      `${a.series.metric_id ?? ''}${Object.keys(a.series.tags).length > 0 ? ` ${JSON.stringify(a.series.tags)}` : ''}`,
      `${a.state}${a.acknowledged ? ` · acknowledged by ${a.acknowledged_by ?? '?'}` : ''}${a.silenced ? ' · silenced' : ''}`,
      formatDuration(now - Date.parse(a.started_at)), formatValue(a.value, 'count'),
      h('span', { class: 'actions' },
        api.can('writer') && !a.acknowledged ? h('button', { type: 'button', 'data-action': 'ack', 'data-alert': a.alert_id, onclick: () => void act(`acknowledge ${a.alert_id}`, () => api.request('PUT', `/api/v1/alerts/${encodeURIComponent(a.alert_id)}/acknowledge`, { acknowledged_by: api.session?.principal.id, comment: 'from the dashboard' })) }, 'Acknowledge') : null,
        api.can('admin') ? h('button', { type: 'button', 'data-action': 'silence-rule', onclick: () => {
          matcherRule.value = a.rule_id;
          matcherRule.focus();
        } }, 'Silence…') : null),
    ], { 'data-testid': 'active-alerts' }));
  }, (err: Error) => active.replaceChildren(h('p', { class: 'error' }, err.message)));

  void api.get<{ silences: Silence[] }>('/api/v1/silences').then(({ silences: list }) => {
    silences.replaceChildren(table(['Matchers', 'Until', 'Comment', ''], list, (s) => [
      JSON.stringify(s.matchers), formatTime(Date.parse(s.ends_at)), s.comment,
      api.can('admin') ? h('button', { type: 'button', 'data-action': 'unsilence', onclick: () => void act('un-silence', () => api.request('DELETE', `/api/v1/silences/${encodeURIComponent(s.silence_id)}`)) }, 'Un-silence') : '',
    ], { 'data-testid': 'silences' }));
  }, (err: Error) => silences.replaceChildren(h('p', { class: 'error' }, err.message)));

  const ruleText = h('textarea', { rows: 12, spellcheck: false, 'aria-label': 'Rule (JSON)', 'data-testid': 'rule-editor' });
  ruleText.value = RULE_TEMPLATE;
  const ruleMessage = h('p', { class: 'status', role: 'status', 'data-testid': 'rule-message' });
  let editing: string | undefined;
  const saveRule = async (): Promise<void> => {
    let body: unknown;
    try {
      body = JSON.parse(ruleText.value);
    } catch (err) {
      ruleMessage.textContent = `not JSON: ${(err as Error).message}`;
      ruleMessage.className = 'status error';
      return;
    }
    try {
      if (editing !== undefined) await api.request('PUT', `/api/v1/alerts/rules/${encodeURIComponent(editing)}`, body);
      else await api.request('POST', '/api/v1/alerts/rules', body);
      lastOutcome = { text: 'rule saved', ok: true };
      rerender();
    } catch (err) {
      // The API's own validation message, naming the field and the value.
      ruleMessage.textContent = err instanceof ApiError ? err.message : String(err);
      ruleMessage.className = 'status error';
    }
  };
  if (api.can('admin')) {
    editor.append(h('form', { class: 'editor', onsubmit: (e: Event) => {
      e.preventDefault();
      void saveRule();
    } }, h('label', {}, 'Rule editor (JSON; new rule unless one is being edited)'), ruleText,
    h('div', {}, h('button', { type: 'submit' }, 'Save rule'), h('button', { type: 'button', onclick: () => {
      editing = undefined;
      ruleText.value = RULE_TEMPLATE;
    } }, 'New')), ruleMessage));
  }
  void api.get<{ rules: Rule[] }>('/api/v1/alerts/rules').then(({ rules: list }) => {
    rules.replaceChildren(table(['Rule', 'Name', 'Metric', 'Condition', 'Priority', ''], list, (r) => [
      r.rule_id, r.name, r.metric_pattern, r.threshold_value === null ? 'anomaly' : `${r.comparison} ${r.threshold_value}`, r.priority,
      api.can('admin') ? h('button', { type: 'button', class: 'link', onclick: () => {
        editing = r.rule_id;
        ruleText.value = JSON.stringify(r, null, 2);
        ruleText.focus();
      } }, 'Edit') : '',
    ], { 'data-testid': 'rules' }));
  }, (err: Error) => rules.replaceChildren(h('p', { class: 'error' }, err.message)));

  void api.get<{ alerts: Alert[] }>('/api/v1/alerts?state=resolved&limit=200').then(({ alerts }) => {
    const times = alerts.filter((a) => a.resolved_at !== null).map((a) => ({ a, ms: Date.parse(a.resolved_at!) - Date.parse(a.fired_at ?? a.started_at) }));
    const sorted = times.map((t) => t.ms).sort((x, y) => x - y);
    const median = sorted.length === 0 ? undefined : sorted[Math.floor(sorted.length / 2)];
    summary.append(tile('alerts-resolution', 'Median resolution', median === undefined ? undefined : median / 1000, 'count', median === undefined ? 'no resolved alerts' : formatDuration(median)));
    resolution.replaceChildren(table(['Alert', 'Priority', 'Fired', 'Resolved', 'Took'], times.slice(0, 50), ({ a, ms }) => [a.name, a.priority, formatTime(Date.parse(a.fired_at ?? a.started_at)), formatTime(Date.parse(a.resolved_at!)), formatDuration(ms)]));
  }, () => undefined);

  void api.get<{ history: Array<{ at: string; event: string; alert_id: string | null; rule_id: string | null }> }>('/api/v1/alerts/history?limit=100').then(({ history: list }) => {
    history.replaceChildren(table(['At', 'Event', 'Alert', 'Rule'], list, (e) => [formatTime(Date.parse(e.at)), e.event, e.alert_id ?? '', e.rule_id ?? ''], { 'data-testid': 'alert-history' }));
  }, (err: Error) => history.replaceChildren(h('p', { class: 'error' }, err.message)));
  return root;
}
