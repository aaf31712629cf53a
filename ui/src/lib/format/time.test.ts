import { describe, expect, it } from 'vitest';
import { formatClock, formatDate, formatDateTime, formatLatency, formatRelative, toMillis } from './time';

const NOW = Date.parse('2026-11-24T12:00:00Z');

describe('formatRelative', () => {
  it('speaks of the recent past', () => {
    expect(formatRelative(NOW - 1000, NOW)).toBe('just now');
    expect(formatRelative(NOW - 42_000, NOW)).toBe('42 s ago');
    expect(formatRelative(NOW - 5 * 60_000, NOW)).toBe('5 min ago');
    expect(formatRelative(NOW - 3 * 3_600_000, NOW)).toBe('3 h ago');
    expect(formatRelative('2026-11-22T12:00:00Z', NOW)).toBe('2 d ago');
  });

  it('speaks of the future (period ends)', () => {
    expect(formatRelative(NOW + 3 * 86_400_000, NOW)).toBe('in 3 d');
    expect(formatRelative(NOW + 90 * 86_400_000, NOW)).toBe('in 3 mo');
    expect(formatRelative(NOW + 2000, NOW)).toBe('just now');
    expect(formatRelative(NOW + 30_000, NOW), 'clock skew is not the future').toBe('just now');
  });

  it('uses units at their boundaries', () => {
    expect(formatRelative(NOW - 59_999, NOW)).toBe('59 s ago');
    expect(formatRelative(NOW - 60_000, NOW)).toBe('1 min ago');
    expect(formatRelative(NOW - 3_600_000, NOW)).toBe('1 h ago');
    expect(formatRelative(NOW - 86_400_000, NOW)).toBe('1 d ago');
    expect(formatRelative(NOW - 3 * 365 * 86_400_000, NOW)).toBe('3 y ago');
  });

  it('marks unreadable times', () => {
    expect(formatRelative('yesterday-ish', NOW)).toBe('—');
  });
});

describe('absolute times (TZ=UTC in tests)', () => {
  it('shows the clock with milliseconds', () => {
    expect(formatClock('2026-11-24T14:03:22.125Z')).toBe('14:03:22.125');
    expect(formatClock('2026-11-24T04:05:06Z')).toBe('04:05:06.000');
  });

  it('shows dates sortably', () => {
    expect(formatDateTime('2026-01-05T09:07:00Z')).toBe('2026-01-05 09:07');
    expect(formatDate('2026-01-05T09:07:00Z')).toBe('2026-01-05');
    expect(formatDateTime(null)).toBe('—');
  });

  it('reads every accepted input', () => {
    expect(toMillis(NOW)).toBe(NOW);
    expect(toMillis(new Date(NOW))).toBe(NOW);
    expect(toMillis('2026-11-24T12:00:00Z')).toBe(NOW);
  });
});

describe('formatLatency', () => {
  it('picks the unit', () => {
    expect(formatLatency(850)).toBe('850 µs');
    expect(formatLatency(1500)).toBe('1.50 ms');
    expect(formatLatency(12_400)).toBe('12.4 ms');
    expect(formatLatency(1_200_000)).toBe('1.20 s');
    expect(formatLatency(-1)).toBe('—');
  });
});
