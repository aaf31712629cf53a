/** One line of the "top tenants by denials" list. */
export interface TenantCount {
  tenant: string;
  count: number;
}

/**
 * Denials per tenant over a sliding window, in one-minute buckets: the operator wants to
 * know who is being refused right now, not since the page opened. The window is exact to
 * the minute (the oldest bucket is dropped as a whole).
 */
export class TopTenants {
  private readonly minutes: number;
  private readonly buckets = new Map<number, Map<string, number>>();

  constructor(windowMinutes = 15) {
    this.minutes = windowMinutes;
  }

  /** Counts one denial for `tenant` at `atMs`. */
  add(tenant: string, atMs: number): void {
    const minute = Math.floor(atMs / 60_000);
    let bucket = this.buckets.get(minute);
    if (!bucket) {
      bucket = new Map();
      this.buckets.set(minute, bucket);
      this.prune(minute);
    }
    bucket.set(tenant, (bucket.get(tenant) ?? 0) + 1);
  }

  private prune(currentMinute: number): void {
    for (const minute of this.buckets.keys()) {
      if (minute <= currentMinute - this.minutes) this.buckets.delete(minute);
    }
  }

  /** The `limit` tenants with the most denials in the window ending at `nowMs`, most first. */
  top(nowMs: number, limit: number): TenantCount[] {
    const current = Math.floor(nowMs / 60_000);
    const totals = new Map<string, number>();
    for (const [minute, bucket] of this.buckets) {
      // Minutes after `nowMs` count too: the view's clock ticks once a second, so the
      // newest arrivals may already be in the next minute.
      if (minute <= current - this.minutes) continue;
      for (const [tenant, count] of bucket) totals.set(tenant, (totals.get(tenant) ?? 0) + count);
    }
    return [...totals]
      .map(([tenant, count]) => ({ tenant, count }))
      .sort((a, b) => b.count - a.count || a.tenant.localeCompare(b.tenant))
      .slice(0, limit);
  }
}
