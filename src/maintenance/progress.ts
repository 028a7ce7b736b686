/**
 * Progress of a long maintenance step: a cli-progress bar with rate and ETA when the output is
 * a terminal, plain lines otherwise (logs, CI, pipes: a bar's carriage returns make them
 * unreadable), nothing at all on the server side.
 */
import { SingleBar } from 'cli-progress';

export interface Progress {
  /** Starts a phase of `total` units (`bytes` are shown in MB). */
  phase(name: string, total: number, unit: ProgressUnit): void;
  /** `done` units of the current phase are done. */
  update(done: number): void;
  /** Ends the current phase. */
  end(): void;
}

/** `bytes` are shown in MB. */
export type ProgressUnit = 'bytes' | 'files' | 'series';

export const SILENT_PROGRESS: Progress = { phase: () => undefined, update: () => undefined, end: () => undefined };

interface Output {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Plain lines at most every this many ms (and at each phase's start and end). */
const LINE_INTERVAL_MS = 1000;

function amount(n: number, unit: ProgressUnit): string {
  return unit === 'bytes' ? `${(n / 1e6).toFixed(1)} MB` : `${Math.round(n)} ${unit}`;
}

/** A bar on a TTY, lines otherwise; `now` is for tests. */
export function createProgress(out: Output, now: () => number = Date.now): Progress {
  return out.isTTY === true ? new BarProgress(out) : new LineProgress(out, now);
}

class LineProgress implements Progress {
  #name = '';
  #total = 0;
  #unit: ProgressUnit = 'bytes';
  #started = 0;
  #lastLine = 0;
  #done = 0;
  #active = false;

  constructor(
    readonly out: Output,
    readonly now: () => number,
  ) {}

  phase(name: string, total: number, unit: ProgressUnit): void {
    this.#name = name;
    this.#total = total;
    this.#unit = unit;
    this.#started = this.now();
    this.#lastLine = this.#started;
    this.#done = 0;
    this.#active = true;
    this.out.write(`${name}: ${amount(total, unit)}\n`);
  }

  update(done: number): void {
    if (!this.#active) return;
    this.#done = done;
    const t = this.now();
    if (t - this.#lastLine < LINE_INTERVAL_MS) return;
    this.#lastLine = t;
    this.out.write(`${this.#line(t)}\n`);
  }

  /** Ends the phase; nothing when none runs (a failure ends whatever ran, if anything). */
  end(): void {
    if (!this.#active) return;
    this.#active = false;
    const t = this.now();
    this.#done = this.#total;
    this.out.write(`${this.#line(t)} done in ${((t - this.#started) / 1000).toFixed(1)} s\n`);
  }

  #line(t: number): string {
    const seconds = Math.max(1e-3, (t - this.#started) / 1000);
    const rate = this.#done / seconds;
    const share = this.#total > 0 ? Math.min(100, (100 * this.#done) / this.#total) : 100;
    const eta = rate > 0 ? Math.max(0, (this.#total - this.#done) / rate) : 0;
    return `${this.#name}: ${share.toFixed(0)}% (${amount(this.#done, this.#unit)} of ${amount(this.#total, this.#unit)}, ${amount(rate, this.#unit)}/s, ETA ${eta.toFixed(0)} s)`;
  }
}

class BarProgress implements Progress {
  #bar: SingleBar | undefined;
  #scale = 1;

  constructor(readonly out: Output) {}

  phase(name: string, total: number, unit: ProgressUnit): void {
    this.end();
    // cli-progress shows raw values; bytes are scaled to MB so value, total and rate read well.
    this.#scale = unit === 'bytes' ? 1e6 : 1;
    const label = unit === 'bytes' ? 'MB' : unit;
    this.#bar = new SingleBar({
      format: `${name} [{bar}] {percentage}% | {value}/{total} ${label} | {speed} ${label}/s | ETA {eta_formatted}`,
      stream: this.out as NodeJS.WritableStream,
      hideCursor: true,
      etaBuffer: 20,
    });
    this.#bar.start(Math.max(0, Math.round((total / this.#scale) * 10) / 10), 0, { speed: '0.0' });
    this.#startedAt = Date.now();
  }

  #startedAt = 0;

  update(done: number): void {
    if (this.#bar === undefined) return;
    const value = Math.round((done / this.#scale) * 10) / 10;
    const seconds = Math.max(1e-3, (Date.now() - this.#startedAt) / 1000);
    this.#bar.update(value, { speed: (value / seconds).toFixed(1) });
  }

  end(): void {
    if (this.#bar === undefined) return;
    this.#bar.update(this.#bar.getTotal());
    this.#bar.stop();
    this.#bar = undefined;
  }
}
