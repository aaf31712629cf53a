import { describe, expect, it } from 'vitest';
import { daySeconds, perCode, perDay, windowDays } from './days';

describe('per-day series', () => {
  it('lists every UTC day of the window, across a month end', () => {
    expect(windowDays('2026-01-30T00:00:00+00:00', 3)).toEqual(['2026-01-30', '2026-01-31', '2026-02-01']);
    expect(daySeconds('1970-01-02')).toBe(86_400);
  });

  it('fills days without rows with zeros', () => {
    const days = windowDays('2026-01-01T00:00:00Z', 3);
    expect(perDay(days, [{ day: '2026-01-03', n: 4 }], (r) => r.n)).toEqual([0, 0, 4]);
  });

  it('splits 402s into one series per code, the largest first', () => {
    const days = windowDays('2026-01-01T00:00:00Z', 2);
    const rows = [
      { day: '2026-01-01', code: 'QUOTA_EXCEEDED', requests: 1 },
      { day: '2026-01-02', code: 'INSUFFICIENT_CREDITS', requests: 5 },
      { day: '2026-01-02', code: 'QUOTA_EXCEEDED', requests: 2 },
    ];
    expect(perCode(days, rows)).toEqual([
      { code: 'INSUFFICIENT_CREDITS', total: 5, values: [0, 5] },
      { code: 'QUOTA_EXCEEDED', total: 3, values: [1, 2] },
    ]);
  });
});
