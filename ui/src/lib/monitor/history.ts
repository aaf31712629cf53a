/**
 * A window of traffic filled from `traffic.history` and carried on by live events, without
 * counting an event twice or losing one at the seam.
 *
 * The seam rule: the history counts every decision the gateway recorded before its `as_of`,
 * and the gateway records a decision right after measuring its latency. So a live event
 * belongs to the history when `at + latency_us <= as_of` and is counted live otherwise. Live
 * events that arrive before the history answers wait (a bounded queue) and are sorted then.
 */
import type { GatewayEvent, HistoryWindow, TrafficHistory } from '$lib/backend';
import { counterKey, isDenial, SERVED, statusClass, STATUS_CLASSES, type StatusClass } from './classify';
import type { TenantCount } from './top-tenants';

/** The windows an operator picks from, with how often their history is fetched again. */
export const WINDOWS: readonly { value: HistoryWindow; label: string; refreshSeconds: number }[] = [
  { value: '5m', label: '5 minutes', refreshSeconds: 60 },
  { value: '1h', label: '1 hour', refreshSeconds: 60 },
  { value: '24h', label: '24 hours', refreshSeconds: 300 },
  { value: '7d', label: '7 days', refreshSeconds: 900 },
  { value: '30d', label: '30 days', refreshSeconds: 900 },
];

/** The chart's unit for a bucket size: "req / min", "req / 15 min", "req / h", "req / 6 h". */
export function bucketUnit(bucketSeconds: number): string {
  if (bucketSeconds < 3600) return bucketSeconds === 60 ? 'req / min' : `req / ${bucketSeconds / 60} min`;
  return bucketSeconds === 3600 ? 'req / h' : `req / ${bucketSeconds / 3600} h`;
}

/** Live events held while the history is on its way; past this the oldest are dropped. */
const MAX_WAITING = 100_000;

/** What of a live event the window needs. */
export type LiveDecision = Pick<GatewayEvent, 'at' | 'latency_us' | 'status' | 'code' | 'tenant' | 'cost'>;

/**
 * Microseconds since the epoch of an RFC 3339 instant, keeping the fraction `Date.parse`
 * drops below the millisecond (the server writes nanoseconds).
 */
export function toMicros(at: string): number {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(.*)$/.exec(at);
  if (!match) return Date.parse(at) * 1000;
  const whole = Date.parse(match[1] + match[3]);
  const fraction = (match[2] ?? '').padEnd(6, '0').slice(0, 6);
  return whole * 1000 + Number(fraction);
}

/** When the gateway recorded `event` (and counted it in the stored history). */
export function recordedMicros(event: Pick<GatewayEvent, 'at' | 'latency_us'>): number {
  return toMicros(event.at) + event.latency_us;
}

export class WindowTally {
  /** Set by the history (one minute until then). */
  bucketSeconds = 60;
  private bucketCount = 1;
  private asOf: number | null = null;
  private waiting: LiveDecision[] = [];
  /** Per bucket start (Unix seconds): counts per counter key and per status class. */
  private readonly keys = new Map<number, Map<string, number>>();
  private readonly classes = new Map<number, Map<StatusClass, number>>();
  private readonly tenants = new Map<string, number>();
  /** Credits charged per bucket start. */
  private readonly spent = new Map<number, number>();

  /** A tally filled from `history`. */
  static of(history: TrafficHistory): WindowTally {
    const tally = new WindowTally();
    tally.fill(history);
    return tally;
  }

  /** True once the history has been counted. */
  get filled(): boolean {
    return this.asOf !== null;
  }

  /** Counts the history, then the live events that waited for it and came after its cut-off. */
  fill(history: TrafficHistory): void {
    this.bucketSeconds = history.bucket_seconds;
    this.bucketCount = Math.max(1, history.buckets.length);
    for (const bucket of history.buckets) {
      const start = Math.floor(Date.parse(bucket.start) / 1000);
      if (bucket.served > 0) this.count(start, SERVED, 'served', bucket.served);
      if (bucket.credits !== 0) this.spent.set(start, (this.spent.get(start) ?? 0) + bucket.credits);
      for (const d of bucket.denials) this.count(start, d.code, statusClass({ status: d.status, code: d.code }), d.requests);
    }
    for (const t of history.top_tenants) this.tenants.set(t.tenant, (this.tenants.get(t.tenant) ?? 0) + t.requests);
    this.asOf = toMicros(history.as_of);
    const waiting = this.waiting;
    this.waiting = [];
    for (const event of waiting) this.live(event);
  }

  /** Counts a live event unless the history already has it; holds it until the history is in. */
  live(event: LiveDecision): void {
    if (this.asOf === null) {
      this.waiting.push(event);
      if (this.waiting.length > MAX_WAITING) this.waiting.shift();
      return;
    }
    if (recordedMicros(event) <= this.asOf) return;
    const start = this.bucketOf(Date.parse(event.at));
    this.count(start, counterKey(event), statusClass(event), 1);
    if (event.cost !== 0) this.spent.set(start, (this.spent.get(start) ?? 0) + event.cost);
    if (event.tenant && isDenial(event)) this.tenants.set(event.tenant, (this.tenants.get(event.tenant) ?? 0) + 1);
  }

  private bucketOf(ms: number): number {
    return Math.floor(ms / 1000 / this.bucketSeconds) * this.bucketSeconds;
  }

  private count(start: number, key: string, series: StatusClass, n: number): void {
    let keys = this.keys.get(start);
    let classes = this.classes.get(start);
    if (!keys || !classes) {
      keys = new Map();
      classes = new Map();
      this.keys.set(start, keys);
      this.classes.set(start, classes);
      this.prune(start);
    }
    keys.set(key, (keys.get(key) ?? 0) + n);
    classes.set(series, (classes.get(series) ?? 0) + n);
  }

  /** Forgets buckets that slid out of every window ending at or after `newest`. */
  private prune(newest: number): void {
    const oldest = newest - (this.bucketCount - 1) * this.bucketSeconds;
    for (const start of this.keys.keys()) {
      if (start < oldest) {
        this.keys.delete(start);
        this.classes.delete(start);
        this.spent.delete(start);
      }
    }
  }

  /** The window's buckets ending with the one holding `nowMs`, oldest first (Unix seconds). */
  private starts(nowMs: number): number[] {
    const last = this.bucketOf(nowMs);
    return Array.from({ length: this.bucketCount }, (_, i) => last - (this.bucketCount - 1 - i) * this.bucketSeconds);
  }

  /** Counts per counter key over the window ending at `nowMs` (events stamped later count too). */
  counts(nowMs: number): Record<string, number> {
    const oldest = this.starts(nowMs)[0];
    const out: Record<string, number> = {};
    for (const [start, keys] of this.keys) {
      if (start < oldest) continue;
      for (const [key, n] of keys) out[key] = (out[key] ?? 0) + n;
    }
    return out;
  }

  /** Credits charged over the window ending at `nowMs`. */
  credits(nowMs: number): number {
    const oldest = this.starts(nowMs)[0];
    let sum = 0;
    for (const [start, n] of this.spent) if (start >= oldest) sum += n;
    return sum;
  }

  /**
   * The chart's data, drawn as steps: one x per bucket start (Unix seconds) and the end of
   * the last bucket, which repeats its counts so that bucket has a width too.
   */
  window(nowMs: number, _windowSeconds?: number): { x: number[]; y: Record<StatusClass, number[]> } {
    const starts = this.starts(nowMs);
    const x = [...starts, starts[starts.length - 1] + this.bucketSeconds];
    const y = {} as Record<StatusClass, number[]>;
    for (const s of STATUS_CLASSES) {
      y[s] = starts.map((start) => this.classes.get(start)?.get(s) ?? 0);
      y[s].push(y[s][y[s].length - 1]);
    }
    return { x, y };
  }

  /**
   * The tenants refused most: the history's top list for its window plus live refusals since
   * (exact until the next fetch, which slides the window).
   */
  top(limit: number): TenantCount[] {
    return [...this.tenants]
      .map(([tenant, count]) => ({ tenant, count }))
      .sort((a, b) => b.count - a.count || a.tenant.localeCompare(b.tenant))
      .slice(0, limit);
  }
}
