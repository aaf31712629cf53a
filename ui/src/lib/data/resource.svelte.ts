import { toActionError } from '$lib/forms/errors';

/**
 * Something a screen loads from the backend: its value, whether it is loading, and the
 * error to show if loading failed. Reloading keeps the old value on screen until the new
 * one arrives, so a refresh after an action does not flash an empty view.
 */
export class Resource<T> {
  value = $state.raw<T | null>(null);
  error = $state<string | null>(null);
  loading = $state(false);
  private readonly fetcher: () => Promise<T>;
  private request = 0;

  constructor(fetcher: () => Promise<T>) {
    this.fetcher = fetcher;
  }

  /** Loads (again); a slower earlier request never overwrites a newer one. */
  async load(): Promise<void> {
    const request = ++this.request;
    this.loading = true;
    try {
      const value = await this.fetcher();
      if (request !== this.request) return;
      this.value = value;
      this.error = null;
    } catch (error) {
      if (request !== this.request) return;
      this.error = toActionError(error).message;
    } finally {
      if (request === this.request) this.loading = false;
    }
  }
}
