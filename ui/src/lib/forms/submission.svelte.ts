import { toActionError, type ActionError } from './errors';

/**
 * One action a form or a confirmation sends: whether it is on its way (to disable the
 * button and ignore a double submit) and why it failed, kept as an `ActionError` so the
 * message can go beside the field the backend named. Every form runs its command through
 * this instead of repeating the busy/try/catch/finally sequence.
 */
export class Submission {
  /** True while the command runs; the submit button is disabled meanwhile. */
  busy = $state(false);
  /** Why the last attempt failed (or a check before sending it did); null when it did not. */
  error = $state<ActionError | null>(null);

  /**
   * Runs `action` unless one is already running, clearing the previous error first.
   * Anything it throws becomes `error` (the form stays open to show it). Resolves to
   * whether the action ran and succeeded, so the caller can follow up only then.
   */
  async run(action: () => Promise<void>): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    this.error = null;
    try {
      await action();
      return true;
    } catch (e) {
      this.error = toActionError(e);
      return false;
    } finally {
      this.busy = false;
    }
  }
}
