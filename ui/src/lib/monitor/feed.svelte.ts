import { getBackend, type AuditEntry, type Backend, type Event, type FeedGap, type GatewayEvent } from '$lib/backend';
import { toMillis } from '$lib/format/time';
import { storageHealth, type StorageHealth } from '$lib/storage-status.svelte';
import { EventBuffer } from './buffer';
import { counterKey, isDenial, statusClass, STATUS_CLASSES, type StatusClass } from './classify';
import { Counters } from './counters';
import { RateBuckets } from './rate';
import { TopTenants } from './top-tenants';

/** The live stream's state as the header shows it. */
export type StreamStatus = 'connecting' | 'open' | 'closed';

/** How many events the monitor keeps; older ones are dropped (counters stay exact). */
export const FEED_CAPACITY = 5000;

/** A tenant's balance as the gateway last reported it, with the server time of that report. */
export interface ReportedBalance {
  balance: number;
  atMs: number;
}

/** Schedules work for the next frame; falls back to a timer where there is no rAF (tests, hidden tabs). */
function nextFrame(callback: () => void): void {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && !document.hidden) {
    requestAnimationFrame(callback);
  } else {
    setTimeout(callback, 16);
  }
}

/**
 * The live gateway feed, shared by every screen and alive for the whole session, so the
 * monitor keeps its history while the operator works on a tenant.
 *
 * Arrivals are counted at once (counters, rates, top tenants, balances) and queued; the queue
 * is applied to the list once per animation frame, which is what keeps 1,000 events/s smooth.
 */
export class MonitorFeed {
  status = $state<StreamStatus>('closed');
  /** The last stream failure, shown until the stream opens again. */
  streamError = $state<string | null>(null);
  /** The latest time a remote server's stream was down (its events then never came). */
  gap = $state.raw<FeedGap | null>(null);
  /** Events the server dropped because this viewer fell behind, since the page opened. */
  missed = $state(0);
  /** Bumped each frame in which events were applied or counted. */
  frame = $state(0);
  /** Bumped when the visible list changed as a whole (resume, clear): views rebuild. */
  generation = $state(0);
  /** Per counter key (code, SERVED, UPSTREAM_ERROR), exact since the page opened. */
  counts = $state.raw<Record<string, number>>({});
  paused = $state(false);
  /** Exact number of events that arrived since the pause began. */
  arrivedWhilePaused = $state(0);
  /** The newest console action, so open screens can reload what it changed. */
  lastConsole = $state.raw<AuditEntry | null>(null);

  readonly buffer = new EventBuffer<GatewayEvent>(FEED_CAPACITY);
  readonly counters = new Counters();
  readonly rates = new RateBuckets<StatusClass>(STATUS_CLASSES);
  readonly topTenants = new TopTenants(15);
  /** Events applied to the visible list in the latest frame, oldest first. */
  applied: readonly GatewayEvent[] = [];
  /** Events applied to the visible list since the page opened (to notice a missed frame). */
  appliedTotal = 0;

  private readonly listeners = new Set<(event: GatewayEvent) => void>();
  private readonly balances = new Map<string, ReportedBalance>();
  private pending: GatewayEvent[] = [];
  private scheduled = false;
  private unsubscribe: (() => void) | null = null;

  /** `storage` events go to `storage`, which this feed also refreshes whenever it may have missed one. */
  constructor(private readonly storage: StorageHealth = storageHealth) {}

  /** Opens the stream (once); the backend reconnects by itself. */
  start(backend: Backend = getBackend()): void {
    if (this.unsubscribe) return;
    this.unsubscribe = backend.subscribe({
      onEvent: (event) => this.receive(event),
      onDropped: (missed) => {
        this.missed += missed;
        void this.storage.refresh(backend);
      },
      onStatus: (status) => {
        this.status = status;
        if (status === 'open') {
          this.streamError = null;
          // Asked once the stream is open, so no change can fall between answer and events.
          void this.storage.refresh(backend);
        }
      },
      onError: (error) => {
        this.streamError = error.message;
      },
      onGap: (gap) => {
        this.gap = gap;
      },
    });
  }

  /** Calls `listener` with every gateway event as it arrives; returns what stops it. */
  listen(listener: (event: GatewayEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Closes the stream. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.status = 'closed';
  }

  /** Takes one event from the stream. Counting happens here, before any row can be dropped. */
  receive(event: Event, arrivedMs = Date.now()): void {
    if (event.type === 'console') {
      this.lastConsole = event;
      return;
    }
    if (event.type === 'storage') {
      this.storage.receive(event);
      return;
    }
    const { type: _type, ...gateway } = event;
    this.counters.add(counterKey(gateway));
    this.rates.add(arrivedMs, statusClass(gateway));
    if (gateway.tenant) {
      if (isDenial(gateway)) this.topTenants.add(gateway.tenant, arrivedMs);
      if (typeof gateway.balance === 'number') {
        const atMs = toMillis(gateway.at);
        const known = this.balances.get(gateway.tenant);
        if (!known || atMs >= known.atMs) this.balances.set(gateway.tenant, { balance: gateway.balance, atMs });
      }
    }
    for (const listener of this.listeners) listener(gateway);
    this.pending.push(gateway);
    // A tab in the background gets no frames: keep the queue as bounded as the list.
    if (this.pending.length > FEED_CAPACITY * 2) this.pending.splice(0, this.pending.length - FEED_CAPACITY);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    nextFrame(() => this.flush());
  }

  /** Applies the queued events to the list and publishes counts (once per frame). */
  flush(): void {
    this.scheduled = false;
    const batch = this.pending;
    this.pending = [];
    this.buffer.push(batch);
    if (this.buffer.paused) {
      this.applied = [];
      this.arrivedWhilePaused = this.buffer.arrivedWhilePaused;
    } else {
      this.applied = batch;
      this.appliedTotal += batch.length;
    }
    this.counts = this.counters.snapshot();
    this.frame++;
  }

  /** Freezes the list; counters keep counting. */
  pause(): void {
    this.buffer.pause();
    this.paused = true;
    this.arrivedWhilePaused = 0;
  }

  /** Applies everything that arrived while paused, in order. */
  resume(): void {
    this.flush();
    this.buffer.resume();
    this.paused = false;
    this.arrivedWhilePaused = 0;
    this.applied = [];
    this.generation++;
  }

  /** Empties the list (not the counters: they count since the page opened). */
  clear(): void {
    this.buffer.clear();
    this.pending = [];
    this.arrivedWhilePaused = 0;
    this.generation++;
  }

  /** The balance the gateway last reported for `tenant`, if any event carried one. */
  reportedBalance(tenant: string): ReportedBalance | undefined {
    return this.balances.get(tenant);
  }
}

/** The app's one live feed. */
export const feed = new MonitorFeed();
