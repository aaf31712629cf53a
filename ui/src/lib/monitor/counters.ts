/**
 * Exact per-key counts. The monitor counts on arrival, before the bounded list may drop an
 * event, so a counter is the true number since the page opened, not what the list still shows.
 */
export class Counters {
  private readonly counts = new Map<string, number>();
  private sum = 0;

  /** Counts one occurrence of `key` (or `n`). */
  add(key: string, n = 1): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
    this.sum += n;
  }

  /** The count for `key` (0 when never seen). */
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Everything counted. */
  get total(): number {
    return this.sum;
  }

  /** A plain copy, safe to hand to reactive state. */
  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }

  /** Starts again from zero. */
  reset(): void {
    this.counts.clear();
    this.sum = 0;
  }
}
