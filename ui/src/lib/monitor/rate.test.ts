import { describe, expect, it } from 'vitest';
import { RateBuckets } from './rate';

const T0 = Date.parse('2026-11-24T12:00:00Z');

describe('RateBuckets', () => {
  it('counts per second and per series', () => {
    const rates = new RateBuckets(['ok', 'denied'] as const, 60);
    rates.add(T0, 'ok');
    rates.add(T0 + 999, 'ok');
    rates.add(T0 + 1000, 'denied');
    rates.add(T0 + 1500, 'ok', 4);
    const { x, y } = rates.window(T0 + 1500, 3);
    expect(x).toEqual([T0 / 1000 - 1, T0 / 1000, T0 / 1000 + 1]);
    expect(y.ok).toEqual([0, 2, 4]);
    expect(y.denied).toEqual([0, 0, 1]);
  });

  it('forgets seconds that have left the window when their slot is reused', () => {
    const rates = new RateBuckets(['ok'] as const, 10);
    rates.add(T0, 'ok', 7);
    rates.add(T0 + 10_000, 'ok', 1); // same slot, ten seconds later
    const { y } = rates.window(T0 + 10_000, 10);
    expect(y.ok.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('shows zeros for quiet seconds rather than stale counts', () => {
    const rates = new RateBuckets(['ok'] as const, 10);
    rates.add(T0, 'ok', 5);
    const { y } = rates.window(T0 + 25_000, 10);
    expect(y.ok).toEqual(new Array(10).fill(0));
  });

  it('ignores an event older than the second its slot now holds', () => {
    const rates = new RateBuckets(['ok'] as const, 10);
    rates.add(T0 + 10_000, 'ok', 1);
    rates.add(T0, 'ok', 100);
    expect(rates.window(T0 + 10_000, 10).y.ok.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it('never returns more seconds than it keeps', () => {
    const rates = new RateBuckets(['ok'] as const, 60);
    expect(rates.window(T0, 3600).x).toHaveLength(60);
  });

  it('keeps an hour of a busy stream (1,000 events/s)', () => {
    const rates = new RateBuckets(['ok'] as const);
    for (let s = 0; s < 3600; s++) rates.add(T0 + s * 1000, 'ok', 1000);
    const { x, y } = rates.window(T0 + 3599_000, 3600);
    expect(x).toHaveLength(3600);
    expect(y.ok.every((n) => n === 1000)).toBe(true);
  });
});
