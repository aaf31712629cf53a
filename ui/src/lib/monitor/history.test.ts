import { describe, expect, it } from 'vitest';
import type { TrafficHistory } from '$lib/backend';
import { bucketUnit, recordedMicros, toMicros, WindowTally, type LiveDecision } from './history';

// The history was read at 12:03:30.500000900; its last bucket is 12:03.
const AS_OF = '2026-11-24T12:03:30.500000900Z';
const NOW = Date.parse('2026-11-24T12:03:31Z');

function history(): TrafficHistory {
  const start = (minute: number) => `2026-11-24T12:0${minute}:00Z`;
  return {
    window: '5m',
    tenant: null,
    bucket_seconds: 60,
    from: '2026-11-24T11:59:00Z',
    as_of: AS_OF,
    buckets: [
      { start: '2026-11-24T11:59:00Z', served: 0, credits: 0, denials: [] },
      { start: start(0), served: 4, credits: 4, denials: [{ status: 402, code: 'INSUFFICIENT_CREDITS', requests: 2 }] },
      { start: start(1), served: 0, credits: 0, denials: [] },
      { start: start(2), served: 1, credits: 1, denials: [{ status: 401, code: 'MISSING_API_KEY', requests: 1 }] },
      { start: start(3), served: 3, credits: 3, denials: [{ status: 402, code: 'INSUFFICIENT_CREDITS', requests: 1 }] },
    ],
    served: 8,
    credits: 8,
    denials: [
      { status: 401, code: 'MISSING_API_KEY', requests: 1 },
      { status: 402, code: 'INSUFFICIENT_CREDITS', requests: 3 },
    ],
    top_tenants: [{ tenant: 'acme', requests: 3 }],
  };
}

/** A live event that started at `at` and took `latencyUs`. */
function live(at: string, latencyUs: number, code: string | null = null, tenant = 'acme'): LiveDecision {
  return { at, latency_us: latencyUs, status: code ? 402 : 200, code, tenant, cost: code ? 0 : 1 };
}

describe('toMicros', () => {
  it('keeps the microseconds Date.parse drops', () => {
    expect(toMicros('2026-11-24T12:03:30.500000900Z')).toBe(Date.parse('2026-11-24T12:03:30.500Z') * 1000);
    expect(toMicros('2026-11-24T12:03:30.123456+00:00')).toBe(Date.parse('2026-11-24T12:03:30Z') * 1000 + 123456);
    expect(toMicros('2026-11-24T12:03:30Z')).toBe(Date.parse('2026-11-24T12:03:30Z') * 1000);
    expect(recordedMicros({ at: '2026-11-24T12:03:30.000100Z', latency_us: 50 })).toBe(Date.parse('2026-11-24T12:03:30Z') * 1000 + 150);
  });
});

describe('WindowTally', () => {
  it('shows the history when it arrives', () => {
    const tally = WindowTally.of(history());
    expect(tally.counts(NOW)).toEqual({ SERVED: 8, INSUFFICIENT_CREDITS: 3, MISSING_API_KEY: 1 });
    expect(tally.window(NOW).y.served, 'the last bucket repeated at its end').toEqual([0, 4, 0, 1, 3, 3]);
    expect(tally.window(NOW).y['402']).toEqual([0, 2, 0, 0, 1, 1]);
    expect(tally.window(NOW).x[5]).toBe(Date.parse('2026-11-24T12:04:00Z') / 1000);
    expect(tally.window(NOW).x[4]).toBe(Date.parse('2026-11-24T12:03:00Z') / 1000);
    expect(tally.top(8)).toEqual([{ tenant: 'acme', count: 3 }]);
    expect(tally.credits(NOW)).toBe(8);
  });

  it('counts an event recorded before the cut-off once, from the history, and one after it live', () => {
    const tally = new WindowTally();
    // Arrived while the history was on its way: recorded just before / just after the cut-off.
    tally.live(live('2026-11-24T12:03:30.500000Z', 0, 'INSUFFICIENT_CREDITS'));
    tally.live(live('2026-11-24T12:03:30.400000Z', 100_000, null));
    tally.live(live('2026-11-24T12:03:30.500000Z', 1, 'INSUFFICIENT_CREDITS', 'globex'));
    expect(tally.counts(NOW), 'nothing counted before the history').toEqual({});
    tally.fill(history());
    // A long request that started before the cut-off and finished after it is live.
    tally.live(live('2026-11-24T12:03:29.000000Z', 2_000_000));
    // One that finished before it is already in the history (a late frame of the stream).
    tally.live(live('2026-11-24T12:03:29.000000Z', 500_000));
    expect(tally.counts(NOW)).toEqual({ SERVED: 9, INSUFFICIENT_CREDITS: 4, MISSING_API_KEY: 1 });
    expect(tally.top(8)).toEqual([
      { tenant: 'acme', count: 3 },
      { tenant: 'globex', count: 1 },
    ]);
    expect(tally.window(NOW).y.served[4]).toBe(4);
    expect(tally.credits(NOW), 'the long request was charged live').toBe(9);
  });

  it('slides: buckets older than the window stop counting', () => {
    const tally = WindowTally.of(history());
    const later = Date.parse('2026-11-24T12:05:10Z');
    expect(tally.counts(later)).toEqual({ SERVED: 4, INSUFFICIENT_CREDITS: 1, MISSING_API_KEY: 1 });
    expect(tally.window(later).y.served).toEqual([0, 1, 3, 0, 0, 0]);
  });
});

describe('bucketUnit', () => {
  it('names the bucket', () => {
    expect([60, 900, 3600, 21600].map(bucketUnit)).toEqual(['req / min', 'req / 15 min', 'req / h', 'req / 6 h']);
  });
});
