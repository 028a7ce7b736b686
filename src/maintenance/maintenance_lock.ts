/**
 * One maintenance operation at a time per server: a backup, cleanup, compaction or reindex
 * asked for while another runs (from the API or the backup schedule) is refused, not queued:
 * two of them would only contend for the same files, and the caller can retry.
 */
export class MaintenanceBusyError extends Error {
  constructor(readonly running: string) {
    super(`${running} is running; try again when it has finished`);
    this.name = 'MaintenanceBusyError';
  }
}

export class MaintenanceLock {
  #running: string | undefined;

  get running(): string | undefined {
    return this.#running;
  }

  /** Runs `work` as `name`, or throws MaintenanceBusyError when another operation runs. */
  async run<T>(name: string, work: () => Promise<T>): Promise<T> {
    if (this.#running !== undefined) throw new MaintenanceBusyError(this.#running);
    this.#running = name;
    try {
      return await work();
    } finally {
      this.#running = undefined;
    }
  }
}
