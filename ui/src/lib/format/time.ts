// Times arrive as RFC 3339 strings from the server. Operators read recent things as "3 min
// ago" and exact things as local wall-clock time; both are derived here so every screen
// says it the same way.

/** Milliseconds since the epoch for an RFC 3339 string or a number; NaN when unreadable. */
export function toMillis(at: string | number | Date): number {
  if (typeof at === 'number') return at;
  if (at instanceof Date) return at.getTime();
  return Date.parse(at);
}

/**
 * "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago", and "in 3 d" for the future
 * (a period end), relative to an explicit `now` so it can be tested and re-rendered.
 */
export function formatRelative(at: string | number | Date, now: number): string {
  const then = toMillis(at);
  if (Number.isNaN(then)) return '—';
  const delta = now - then;
  const future = delta < 0;
  const seconds = Math.floor(Math.abs(delta) / 1000);
  // The view's clock ticks once a second and the server's may run a little ahead: a
  // moment in the near future is something that just happened, not a prediction.
  if (seconds < 5 || (future && seconds < 60)) return 'just now';
  let text: string;
  if (seconds < 60) text = `${seconds} s`;
  else if (seconds < 3600) text = `${Math.floor(seconds / 60)} min`;
  else if (seconds < 86400) text = `${Math.floor(seconds / 3600)} h`;
  else if (seconds < 86400 * 60) text = `${Math.floor(seconds / 86400)} d`;
  else if (seconds < 86400 * 730) text = `${Math.floor(seconds / (86400 * 30))} mo`;
  else text = `${Math.floor(seconds / (86400 * 365))} y`;
  return future ? `in ${text}` : `${text} ago`;
}

function pad(value: number, width = 2): string {
  return String(value).padStart(width, '0');
}

/** Wall-clock time with milliseconds (14:03:22.125): events a few ms apart must be told apart. */
export function formatClock(at: string | number | Date): string {
  const ms = toMillis(at);
  if (Number.isNaN(ms)) return '—';
  const d = new Date(ms);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** Local date and time to the minute (2026-11-24 14:03), sortable and unambiguous across locales. */
export function formatDateTime(at: string | number | Date | null | undefined): string {
  if (at === null || at === undefined) return '—';
  const ms = toMillis(at);
  if (Number.isNaN(ms)) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Local calendar date (2026-11-24), for period boundaries where the hour is noise. */
export function formatDate(at: string | number | Date | null | undefined): string {
  return formatDateTime(at).slice(0, 10);
}

/** A latency in microseconds as the unit people think in: 850 µs, 12.4 ms, 1.20 s. */
export function formatLatency(micros: number): string {
  if (!Number.isFinite(micros) || micros < 0) return '—';
  if (micros < 1000) return `${Math.round(micros)} µs`;
  if (micros < 1_000_000) return `${(micros / 1000).toFixed(micros < 10_000 ? 2 : 1)} ms`;
  return `${(micros / 1_000_000).toFixed(2)} s`;
}
