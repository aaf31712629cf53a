import { getBackend, type Backend, type StorageStatus } from '$lib/backend';

/**
 * Whether Tollgate's database accepts writes, as every screen's banner shows it.
 *
 * Two sources keep it current: `storage.status`, asked whenever the live stream (re)opens
 * or lost events, so a page that opens while storage already fails shows it at once; and the
 * stream's `storage` events (the monitor feed passes them here), which every viewer gets
 * whatever its filter. Asking after the stream is open leaves no gap: a change after that
 * arrives as an event. An answer that was on its way while an event arrived is older than
 * the event, so it is dropped.
 */
export class StorageHealth {
  /** True from the first refused write until a write succeeds again. */
  failing = $state(false);
  /** When the current failure began (RFC 3339), if the server knows. */
  since = $state<string | null>(null);
  /** The database's own words for the last failure, e.g. `database or disk is full`. */
  error = $state<string | null>(null);

  /** Events applied so far: an answer asked for before the latest event is stale. */
  private events = 0;

  /** Takes a `storage` event from the live stream. */
  receive(status: StorageStatus): void {
    this.events++;
    this.apply(status);
  }

  /** Asks the server for the current status; failures leave the shown status as it is. */
  async refresh(backend: Backend = getBackend()): Promise<void> {
    const asked = this.events;
    let status: StorageStatus;
    try {
      status = await backend.call('storage.status', {});
    } catch {
      // Unreachable server: the stream's status says so; a failing database still answers this.
      return;
    }
    if (this.events === asked) this.apply(status);
  }

  private apply(status: StorageStatus): void {
    this.failing = status.failing;
    this.since = status.failing ? (status.since ?? null) : null;
    this.error = status.failing ? (status.error ?? null) : null;
  }
}

/** The app's one storage status. */
export const storageHealth = new StorageHealth();
