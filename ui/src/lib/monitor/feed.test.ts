import { describe, expect, it } from 'vitest';
import type { Event } from '$lib/backend';
import { MonitorFeed, FEED_CAPACITY } from './feed.svelte';

let seq = 0;
function gateway(status: number, code: string | null, tenant = 'acme', balance: number | null = null, at = '2026-11-24T12:00:00Z'): Event {
  return {
    type: 'gateway',
    at,
    request_id: `req_${seq++}`,
    tenant,
    key_prefix: 'tg_live_x',
    route: '/v1/search',
    method: 'GET',
    path: '/v1/search',
    status,
    code,
    cost: 1,
    balance,
    latency_us: 100,
    facts: null,
  };
}

describe('MonitorFeed', () => {
  it('counts on arrival and applies rows once per flush', () => {
    const feed = new MonitorFeed();
    feed.receive(gateway(200, null));
    feed.receive(gateway(402, 'INSUFFICIENT_CREDITS'));
    expect(feed.counters.get('SERVED')).toBe(1);
    expect(feed.buffer.length).toBe(0);
    feed.flush();
    expect(feed.buffer.length).toBe(2);
    expect(feed.counts).toEqual({ SERVED: 1, INSUFFICIENT_CREDITS: 1 });
    expect(feed.applied.map((e) => e.status)).toEqual([200, 402]);
    expect(feed.buffer.at(0)?.status).toBe(402);
  });

  it('keeps counters exact when the list drops the oldest rows', () => {
    const feed = new MonitorFeed();
    const total = FEED_CAPACITY + 1234;
    for (let i = 0; i < total; i++) {
      feed.receive(i % 4 === 0 ? gateway(429, 'RATE_LIMITED') : gateway(200, null));
      if (i % 100 === 0) feed.flush();
    }
    feed.flush();
    expect(feed.buffer.length).toBe(FEED_CAPACITY);
    expect(feed.counts.RATE_LIMITED).toBe(Math.ceil(total / 4));
    expect(feed.counts.SERVED).toBe(total - Math.ceil(total / 4));
  });

  it('freezes on pause, counts what arrives, and applies it on resume', () => {
    const feed = new MonitorFeed();
    feed.receive(gateway(200, null));
    feed.flush();
    feed.pause();
    feed.receive(gateway(402, 'INSUFFICIENT_CREDITS'));
    feed.receive(gateway(403, 'TENANT_BLOCKED'));
    feed.flush();
    expect(feed.buffer.length).toBe(1);
    expect(feed.arrivedWhilePaused).toBe(2);
    expect(feed.counts.TENANT_BLOCKED).toBe(1);
    feed.receive(gateway(401, 'INVALID_API_KEY')); // still queued when resume is clicked
    const generation = feed.generation;
    feed.resume();
    expect(feed.paused).toBe(false);
    expect(feed.arrivedWhilePaused).toBe(0);
    expect(feed.generation).toBe(generation + 1);
    expect(feed.buffer.toArray().map((e) => e.status)).toEqual([401, 403, 402, 200]);
  });

  it('passes console actions on without counting them', () => {
    const feed = new MonitorFeed();
    feed.receive({ type: 'console', id: 1, at: '2026-11-24T12:00:00Z', actor: 'op', action: 'credits.topup', target: 'tenant:acme' });
    expect(feed.lastConsole?.action).toBe('credits.topup');
    expect(feed.counters.total).toBe(0);
  });

  it('remembers the newest balance the gateway reported per tenant', () => {
    const feed = new MonitorFeed();
    feed.receive(gateway(200, null, 'acme', 90, '2026-11-24T12:00:02Z'));
    feed.receive(gateway(200, null, 'acme', 95, '2026-11-24T12:00:01Z')); // older, arrived late
    expect(feed.reportedBalance('acme')?.balance).toBe(90);
    expect(feed.reportedBalance('globex')).toBeUndefined();
  });

  it('ranks tenants by denials only', () => {
    const feed = new MonitorFeed();
    const now = Date.now();
    feed.receive(gateway(200, null, 'served-only'), now);
    feed.receive(gateway(402, 'INSUFFICIENT_CREDITS', 'acme'), now);
    expect(feed.topTenants.top(now, 5)).toEqual([{ tenant: 'acme', count: 1 }]);
  });
});
