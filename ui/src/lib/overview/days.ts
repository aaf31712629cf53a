// The overview's per-day figures come back only for days that had any; charts want every
// day of the window in order, with zeros between.

/** The UTC days of a window starting at `since` (00:00 UTC), as `YYYY-MM-DD`. */
export function windowDays(since: string, days: number): string[] {
  const start = Date.parse(since);
  return Array.from({ length: days }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10));
}

/** Unix seconds of a `YYYY-MM-DD` day's start, the charts' x values. */
export function daySeconds(day: string): number {
  return Date.parse(`${day}T00:00:00Z`) / 1000;
}

/** One value per day of `days` from rows keyed by day (missing days are 0). */
export function perDay<T extends { day: string }>(days: string[], rows: T[], value: (row: T) => number): number[] {
  const byDay = new Map<string, number>();
  for (const row of rows) byDay.set(row.day, (byDay.get(row.day) ?? 0) + value(row));
  return days.map((d) => byDay.get(d) ?? 0);
}

/** Rows of (day, code, requests) as one series per code, codes by total, largest first. */
export function perCode(days: string[], rows: { day: string; code: string; requests: number }[]): { code: string; total: number; values: number[] }[] {
  const codes = new Map<string, { day: string; requests: number }[]>();
  for (const row of rows) {
    const list = codes.get(row.code) ?? [];
    list.push(row);
    codes.set(row.code, list);
  }
  return [...codes.entries()]
    .map(([code, list]) => ({ code, total: list.reduce((sum, r) => sum + r.requests, 0), values: perDay(days, list, (r) => r.requests) }))
    .sort((a, b) => b.total - a.total || a.code.localeCompare(b.code));
}
