/**
 * A shared one-second tick, so relative times, the rate chart and the top-tenants list move
 * together from one timer instead of one per component.
 */
class Clock {
  now = $state(Date.now());
  private timer: ReturnType<typeof setInterval> | null = null;

  /** Starts ticking (once). */
  start(): void {
    this.timer ??= setInterval(() => {
      this.now = Date.now();
    }, 1000);
  }

  /** Stops ticking. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** The app's one clock. */
export const clock = new Clock();
