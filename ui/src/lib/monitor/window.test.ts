import { describe, expect, it } from 'vitest';
import type { Backend, GatewayEvent, TrafficHistory } from '$lib/backend';
import { WindowFeed, type LiveSource } from './window.svelte';

/** A live source the test emits into. */
function source(): LiveSource & { emit(e: GatewayEvent): void } {
  const listeners = new Set<(e: GatewayEvent) => void>();
  return {
    listen(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    emit(e) {
      for (const l of listeners) l(e);
    },
  };
}

/** A backend whose `traffic.history` answers are released by the test, in order. */
function backend() {
  const asked: { input: unknown; answer: (h: TrafficHistory) => void }[] = [];
  const api = {
    call: (_name: string, input: unknown) => new Promise((resolve) => asked.push({ input, answer: resolve })),
  } as unknown as Backend;
  return { api, asked };
}

function event(at: string, latencyUs: number, code: string | null, tenant = 'acme'): GatewayEvent {
  return { at, request_id: at, tenant, key_prefix: null, route: '/v1', method: 'GET', path: '/v1', status: code ? 402 : 200, code, cost: 0, balance: null, latency_us: latencyUs, facts: null };
}

function history(asOf: string, served: number, refused: number): TrafficHistory {
  return {
    window: '1h',
    tenant: null,
    bucket_seconds: 60,
    from: '2026-11-24T12:00:00Z',
    as_of: asOf,
    buckets: [{ start: '2026-11-24T12:00:00Z', served, credits: served, denials: refused ? [{ status: 402, code: 'INSUFFICIENT_CREDITS', requests: refused }] : [] }],
    served,
    credits: served,
    denials: [],
    top_tenants: refused ? [{ tenant: 'acme', requests: refused }] : [],
  };
}

const NOW = Date.parse('2026-11-24T12:00:30Z');

describe('WindowFeed', () => {
  it('merges the history with live events around its cut-off, and again on a reload', async () => {
    const live = source();
    const { api, asked } = backend();
    const view = new WindowFeed(null, live, () => api);
    const stop = view.follow('1h');
    expect(asked[0].input).toEqual({ window: '1h', tenant: null });
    expect(view.tally).toBeNull();

    // While the history is on its way: one recorded before its cut-off, one after.
    live.emit(event('2026-11-24T12:00:10Z', 0, null));
    live.emit(event('2026-11-24T12:00:11Z', 0, 'INSUFFICIENT_CREDITS'));
    asked[0].answer(history('2026-11-24T12:00:10.5Z', 4, 1));
    await Promise.resolve();
    await Promise.resolve();
    expect(view.tally?.counts(NOW)).toEqual({ SERVED: 4, INSUFFICIENT_CREDITS: 2 });

    // A reload: the shown tally keeps counting until the new history replaces it.
    void view.reload();
    live.emit(event('2026-11-24T12:00:20Z', 0, null));
    expect(view.tally?.counts(NOW)).toEqual({ SERVED: 5, INSUFFICIENT_CREDITS: 2 });
    live.emit(event('2026-11-24T12:00:25Z', 0, null));
    asked[1].answer(history('2026-11-24T12:00:21Z', 5, 2));
    await Promise.resolve();
    await Promise.resolve();
    expect(view.tally?.counts(NOW), 'the stored 5 and the one after the new cut-off').toEqual({ SERVED: 6, INSUFFICIENT_CREDITS: 2 });
    stop();
    live.emit(event('2026-11-24T12:00:26Z', 0, null));
    expect(view.tally?.counts(NOW).SERVED, 'stopped: no longer counting').toBe(6);
  });

  it('counts only its tenant', async () => {
    const live = source();
    const { api, asked } = backend();
    const view = new WindowFeed('acme', live, () => api);
    const stop = view.follow('24h');
    expect(asked[0].input).toEqual({ window: '24h', tenant: 'acme' });
    asked[0].answer(history('2026-11-24T12:00:00Z', 0, 0));
    await Promise.resolve();
    await Promise.resolve();
    live.emit(event('2026-11-24T12:00:05Z', 0, 'INSUFFICIENT_CREDITS', 'globex'));
    live.emit(event('2026-11-24T12:00:05Z', 0, 'INSUFFICIENT_CREDITS', 'acme'));
    expect(view.tally?.counts(NOW)).toEqual({ INSUFFICIENT_CREDITS: 1 });
    stop();
  });
});
