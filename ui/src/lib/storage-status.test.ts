import { describe, expect, it } from 'vitest';
import { BackendError, type Backend, type EventHandlers, type StorageStatus } from '$lib/backend';
import { MonitorFeed } from '$lib/monitor/feed.svelte';
import { StorageHealth } from './storage-status.svelte';

const FULL: StorageStatus = { failing: true, since: '2026-12-02T10:15:00Z', error: 'database or disk is full' };
const HEALTHY: StorageStatus = { failing: false, since: null, error: null };

/** A backend whose `storage.status` answers when the test says so, and whose stream the test drives. */
class FakeBackend {
  asked = 0;
  handlers: EventHandlers | null = null;
  private answers: { resolve: (s: StorageStatus) => void; reject: (e: Error) => void }[] = [];

  readonly backend = {
    call: (name: string) => {
      if (name !== 'storage.status') throw new Error(`unexpected command ${name}`);
      this.asked++;
      return new Promise<StorageStatus>((resolve, reject) => this.answers.push({ resolve, reject }));
    },
    subscribe: (handlers: EventHandlers) => {
      this.handlers = handlers;
      return () => undefined;
    },
    loadDemo: () => Promise.reject(new Error('no demo here')),
    painted: () => undefined,
  } as unknown as Backend;

  /** Answers the oldest pending `storage.status` and lets the awaiting code run. */
  async answer(status: StorageStatus | Error): Promise<void> {
    const next = this.answers.shift();
    if (!next) throw new Error('nothing asked');
    if (status instanceof Error) next.reject(status);
    else next.resolve(status);
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

describe('StorageHealth', () => {
  it('starts healthy', () => {
    const health = new StorageHealth();
    expect(health.failing).toBe(false);
    expect(health.since).toBeNull();
    expect(health.error).toBeNull();
  });

  it('shows a failure the server reports when the page opens', async () => {
    const fake = new FakeBackend();
    const health = new StorageHealth();
    const refreshed = health.refresh(fake.backend);
    await fake.answer(FULL);
    await refreshed;
    expect(health.failing).toBe(true);
    expect(health.since).toBe(FULL.since);
    expect(health.error).toBe('database or disk is full');
  });

  it('stays healthy when the server says storage is fine', async () => {
    const fake = new FakeBackend();
    const health = new StorageHealth();
    const refreshed = health.refresh(fake.backend);
    await fake.answer(HEALTHY);
    await refreshed;
    expect(health.failing).toBe(false);
  });

  it('turns on with a live failing event and off with the recovery', () => {
    const health = new StorageHealth();
    health.receive(FULL);
    expect(health.failing).toBe(true);
    expect(health.error).toBe('database or disk is full');
    health.receive({ ...FULL, error: 'disk I/O error' });
    expect(health.error).toBe('disk I/O error');
    expect(health.since).toBe(FULL.since);
    health.receive(HEALTHY);
    expect(health.failing).toBe(false);
    expect(health.since).toBeNull();
    expect(health.error).toBeNull();
  });

  it('forgets the details of a failure once storage is back, whatever the event carries', () => {
    const health = new StorageHealth();
    health.receive(FULL);
    health.receive({ failing: false, since: FULL.since, error: 'stale words' });
    expect(health.since).toBeNull();
    expect(health.error).toBeNull();
  });

  it('drops an answer that was on its way while a newer event arrived', async () => {
    const fake = new FakeBackend();
    const health = new StorageHealth();
    health.receive(FULL);
    const refreshed = health.refresh(fake.backend);
    health.receive(HEALTHY); // the recovery arrives before the (older) answer
    await fake.answer(FULL);
    await refreshed;
    expect(health.failing).toBe(false);
  });

  it('keeps what it shows when the server cannot be asked', async () => {
    const fake = new FakeBackend();
    const health = new StorageHealth();
    health.receive(FULL);
    const refreshed = health.refresh(fake.backend);
    await fake.answer(new BackendError('UNREACHABLE', 'cannot reach Tollgate'));
    await refreshed;
    expect(health.failing).toBe(true);
  });
});

describe('MonitorFeed and storage', () => {
  it('asks for the status once the stream is open, and again after it missed events', async () => {
    const fake = new FakeBackend();
    const health = new StorageHealth();
    const feed = new MonitorFeed(health);
    feed.start(fake.backend);
    fake.handlers?.onStatus?.('connecting');
    expect(fake.asked).toBe(0);
    fake.handlers?.onStatus?.('open');
    expect(fake.asked).toBe(1);
    await fake.answer(FULL);
    expect(health.failing).toBe(true);

    fake.handlers?.onDropped?.(12);
    expect(fake.asked).toBe(2);
    await fake.answer(HEALTHY);
    expect(health.failing).toBe(false);
    feed.stop();
  });

  it('passes storage events on without counting them as gateway traffic', () => {
    const fake = new FakeBackend();
    const health = new StorageHealth();
    const feed = new MonitorFeed(health);
    feed.start(fake.backend);
    fake.handlers?.onEvent({ type: 'storage', ...FULL });
    expect(health.failing).toBe(true);
    expect(health.error).toBe('database or disk is full');
    fake.handlers?.onEvent({ type: 'storage', ...HEALTHY });
    expect(health.failing).toBe(false);
    feed.flush();
    expect(feed.counters.total).toBe(0);
    expect(feed.buffer.length).toBe(0);
    feed.stop();
  });
});
