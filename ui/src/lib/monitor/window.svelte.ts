import { getBackend, type Backend, type GatewayEvent, type HistoryWindow } from '$lib/backend';
import { toActionError } from '$lib/forms/errors';
import { feed as appFeed } from './feed.svelte';
import { WINDOWS, WindowTally } from './history';

/** Where live events come from (the app's feed). */
export interface LiveSource {
  listen(listener: (event: GatewayEvent) => void): () => void;
}

/**
 * A window of traffic (all tenants, or one) kept current: filled from `traffic.history`,
 * carried on by the live feed, and fetched again now and then so it slides (and after the
 * stream reconnects, so what it missed meanwhile is counted).
 */
export class WindowFeed {
  /** The tally shown; null until the first history arrives. */
  tally = $state.raw<WindowTally | null>(null);
  error = $state<string | null>(null);
  /** Bumped when a history was counted. */
  loaded = $state(0);
  private next: WindowTally | null = null;
  private request = 0;
  private window: HistoryWindow = '5m';

  constructor(
    private readonly tenant: string | null = null,
    private readonly source: LiveSource = appFeed,
    private readonly backend: () => Backend = getBackend,
  ) {}

  /** Follows `window` (showing nothing until its history arrives) until the returned function is called. */
  follow(window: HistoryWindow): () => void {
    this.window = window;
    this.tally = null;
    const unlisten = this.source.listen((event) => {
      if (this.tenant !== null && event.tenant !== this.tenant) return;
      this.tally?.live(event);
      this.next?.live(event);
    });
    void this.reload();
    const every = WINDOWS.find((w) => w.value === window)?.refreshSeconds ?? 60;
    const timer = setInterval(() => void this.reload(), every * 1000);
    return () => {
      unlisten();
      clearInterval(timer);
      this.request++;
      this.next = null;
    };
  }

  /** Fetches the window's history again; live events keep counting in the shown tally meanwhile. */
  async reload(): Promise<void> {
    const id = ++this.request;
    const next = new WindowTally();
    this.next = next;
    try {
      const history = await this.backend().call('traffic.history', { window: this.window, tenant: this.tenant });
      if (id !== this.request) return;
      next.fill(history);
      this.tally = next;
      this.error = null;
      this.loaded++;
    } catch (e) {
      if (id === this.request) this.error = toActionError(e).message;
    } finally {
      if (this.next === next) this.next = null;
    }
  }
}
