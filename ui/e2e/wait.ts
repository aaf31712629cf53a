/**
 * The one polling wait of the end-to-end tests: browser, desktop and WebDriver client.
 * `check` may be sync or async and may throw while the thing is not ready yet; the last
 * error is named if time runs out.
 */
export async function waitFor<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  ms: number,
  what: string,
  every = 20,
): Promise<T> {
  const started = Date.now();
  let last: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (e) {
      last = e;
    }
    if (Date.now() - started >= ms) break;
    await new Promise((resolve) => setTimeout(resolve, every));
  }
  throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
}
