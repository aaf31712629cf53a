/**
 * Per-second counts per series over a sliding window (up to an hour), kept in a ring of
 * seconds so that adding is O(1) and memory is fixed no matter the traffic.
 */
export class RateBuckets<S extends string> {
  private readonly seconds: number;
  private readonly series: readonly S[];
  /** Which absolute second each slot currently holds (-1: none). */
  private readonly slotSecond: Float64Array;
  private readonly counts: Map<S, Uint32Array>;

  constructor(series: readonly S[], windowSeconds = 3600) {
    this.seconds = windowSeconds;
    this.series = series;
    this.slotSecond = new Float64Array(windowSeconds).fill(-1);
    this.counts = new Map(series.map((s) => [s, new Uint32Array(windowSeconds)]));
  }

  /** Counts one event of `series` at `atMs`. Events older than the window are ignored. */
  add(atMs: number, series: S, n = 1): void {
    const second = Math.floor(atMs / 1000);
    const slot = ((second % this.seconds) + this.seconds) % this.seconds;
    const held = this.slotSecond[slot];
    if (held !== second) {
      if (held > second) return; // the slot already holds a newer second: this one is too old
      this.slotSecond[slot] = second;
      for (const counts of this.counts.values()) counts[slot] = 0;
    }
    const counts = this.counts.get(series);
    if (counts) counts[slot] += n;
  }

  /**
   * The last `windowSeconds` complete-or-current seconds up to `nowMs`, oldest first, as
   * uPlot wants them: x in Unix seconds and one y array per series (0 where nothing came).
   */
  window(nowMs: number, windowSeconds: number): { x: number[]; y: Record<S, number[]> } {
    const length = Math.min(windowSeconds, this.seconds);
    const last = Math.floor(nowMs / 1000);
    const x = new Array<number>(length);
    const y = {} as Record<S, number[]>;
    for (const s of this.series) y[s] = new Array<number>(length).fill(0);
    for (let i = 0; i < length; i++) {
      const second = last - length + 1 + i;
      x[i] = second;
      const slot = ((second % this.seconds) + this.seconds) % this.seconds;
      if (this.slotSecond[slot] !== second) continue;
      for (const s of this.series) y[s][i] = (this.counts.get(s) as Uint32Array)[slot];
    }
    return { x, y };
  }
}
