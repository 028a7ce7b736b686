/**
 * The page's live-update connection (/api/v1/live, protocol in src/dashboard/live_hub.ts): a
 * WebSocket opened with a single-use ticket (POST /api/v1/auth/ws-ticket, sent as a
 * `Sec-WebSocket-Protocol` entry, never in the URL), subscriptions re-sent after every
 * reconnect, and reconnects with a growing delay (0.5 s to 10 s) while the page wants updates.
 */
import type { Api } from './api.js';

export interface LivePoint {
  metric_id: string;
  tags: Record<string, string>;
  t: number;
  v: number | string;
}

type Listener = (points: LivePoint[]) => void;

interface Sub {
  pattern: string;
  tags: Record<string, string> | undefined;
  listener: Listener;
}

export class LiveConnection {
  readonly #api: Api;
  readonly #subs = new Map<string, Sub>();
  #socket: WebSocket | undefined;
  #delayMs = 500;
  #timer: number | undefined;
  #wanted = false;
  #nextId = 1;
  /** The connection's state, shown in the header; `onState` hears each change. */
  state: 'connecting' | 'live' | 'offline' = 'offline';
  #onState: (state: LiveConnection['state']) => void = () => undefined;

  set onState(fn: (state: LiveConnection['state']) => void) {
    this.#onState = fn;
    fn(this.state);
  }

  #setState(state: LiveConnection['state']): void {
    this.state = state;
    this.#onState(state);
  }

  constructor(api: Api) {
    this.#api = api;
  }

  subscribe(pattern: string, tags: Record<string, string> | undefined, listener: Listener): () => void {
    const id = `s${this.#nextId++}`;
    this.#subs.set(id, { pattern, tags, listener });
    this.#send(id);
    this.#ensure();
    return () => {
      this.#subs.delete(id);
      if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify({ unsubscribe: id }));
    };
  }

  /** Ends every subscription and the connection (sign-out, tenant switch). */
  close(): void {
    this.#wanted = false;
    this.#subs.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#socket?.close(1000, 'page closed the live view');
    this.#socket = undefined;
    this.#setState('offline');
  }

  #send(id: string): void {
    const s = this.#subs.get(id);
    if (s === undefined || this.#socket?.readyState !== WebSocket.OPEN) return;
    this.#socket.send(JSON.stringify({ subscribe: { id, metric_pattern: s.pattern, ...(s.tags === undefined ? {} : { tags: s.tags }) } }));
  }

  #ensure(): void {
    this.#wanted = true;
    if (this.#socket !== undefined || this.#timer !== undefined) return;
    void this.#open();
  }

  async #open(): Promise<void> {
    this.#setState('connecting');
    let ticket: string;
    try {
      ticket = (await this.#api.request<{ ticket: string }>('POST', '/api/v1/auth/ws-ticket')).ticket;
    } catch {
      return this.#retry();
    }
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(`${scheme}://${location.host}/api/v1/live`, ['emms.v1', `emms.ticket.${ticket}`]);
    this.#socket = ws;
    ws.onopen = () => {
      this.#delayMs = 500;
      this.#setState('live');
      for (const id of this.#subs.keys()) this.#send(id);
    };
    ws.onmessage = (e: MessageEvent<string>) => {
      const m = JSON.parse(e.data) as { id?: string; points?: LivePoint[]; error?: string };
      if (m.points !== undefined && m.id !== undefined) this.#subs.get(m.id)?.listener(m.points);
    };
    ws.onclose = () => {
      if (this.#socket === ws) this.#socket = undefined;
      this.#retry();
    };
  }

  #retry(): void {
    this.#setState('offline');
    if (!this.#wanted || this.#subs.size === 0) return;
    this.#timer = window.setTimeout(() => {
      this.#timer = undefined;
      void this.#open();
    }, this.#delayMs);
    this.#delayMs = Math.min(10_000, this.#delayMs * 2);
  }
}
