/**
 * Just enough of the W3C WebDriver protocol to drive the real desktop app through
 * tauri-driver (which hands the session to WebKitWebDriver): find, click, type, run a
 * script, screenshot. Plain fetch; no client library to download.
 */

import { waitFor } from '../e2e/wait';

/** The key W3C WebDriver uses for an element reference. */
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export interface ElementRef {
  [ELEMENT]: string;
}

export class WebDriverError extends Error {}

/** One session with the app. */
export class Session {
  private constructor(
    private readonly base: string,
    readonly id: string,
  ) {}

  /** Launches `application` through the driver at `driverUrl` and opens a session on it. */
  static async start(driverUrl: string, application: string): Promise<Session> {
    const capabilities = { alwaysMatch: { browserName: 'wry', 'tauri:options': { application } } };
    const value = await send<{ sessionId: string }>('POST', `${driverUrl}/session`, { capabilities });
    return new Session(`${driverUrl}/session/${value.sessionId}`, value.sessionId);
  }

  private command<T>(method: string, path: string, body?: unknown): Promise<T> {
    return send<T>(method, `${this.base}${path}`, body);
  }

  /** Runs `script` in the page (`arguments` holds `args`) and returns its result. */
  execute<T>(script: string, ...args: unknown[]): Promise<T> {
    return this.command<T>('POST', '/execute/sync', { script, args });
  }

  /** Runs `script`, which calls its last argument with the result. */
  executeAsync<T>(script: string, ...args: unknown[]): Promise<T> {
    return this.command<T>('POST', '/execute/async', { script, args });
  }

  /** The first element matching the CSS selector, or null. */
  async find(css: string): Promise<ElementRef | null> {
    const found = await this.command<ElementRef[]>('POST', '/elements', { using: 'css selector', value: css });
    return found[0] ?? null;
  }

  /** Waits for an element matching `css`. */
  element(css: string, ms = 10_000): Promise<ElementRef> {
    return waitFor(() => this.find(css), ms, `element ${css}`);
  }

  /** The first visible button or link whose text is `text`. */
  byText(text: string, tag = 'button', ms = 10_000): Promise<ElementRef> {
    return waitFor(
      () =>
        this.execute<ElementRef | null>(
          `return [...document.querySelectorAll(arguments[1])].find((e) => e.textContent.trim() === arguments[0] && e.offsetParent !== null) ?? null;`,
          text,
          tag,
        ),
      ms,
      `${tag} "${text}"`,
    );
  }

  /** The control whose <label> reads `label`. */
  byLabel(label: string, ms = 10_000): Promise<ElementRef> {
    return waitFor(
      () =>
        this.execute<ElementRef | null>(
          `const l = [...document.querySelectorAll('label')].find((l) => l.textContent.trim() === arguments[0] && l.offsetParent !== null);
           return l ? document.getElementById(l.htmlFor) : null;`,
          label,
        ),
      ms,
      `the field "${label}"`,
    );
  }

  async click(element: ElementRef): Promise<void> {
    await this.command('POST', `/element/${element[ELEMENT]}/click`, {});
  }

  /** Replaces a field's text by typing, as a person would. */
  async fill(element: ElementRef, text: string): Promise<void> {
    await this.command('POST', `/element/${element[ELEMENT]}/clear`, {});
    await this.command('POST', `/element/${element[ELEMENT]}/value`, { text });
  }

  /** Picks an option of a <select> by value, firing the change a person's pick fires. */
  async select(element: ElementRef, value: string): Promise<void> {
    await this.execute(
      `arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change', { bubbles: true }));`,
      element,
      value,
    );
  }

  text(element: ElementRef): Promise<string> {
    return this.command<string>('GET', `/element/${element[ELEMENT]}/text`);
  }

  /** The window's size and position. */
  rect(): Promise<{ x: number; y: number; width: number; height: number }> {
    return this.command('GET', '/window/rect');
  }

  /** Resizes the window, as a person dragging its corner would. */
  async resize(width: number, height: number): Promise<void> {
    await this.command('POST', '/window/rect', { width, height });
  }

  /** The page as the webview renders it, PNG. */
  async screenshot(): Promise<Buffer> {
    return Buffer.from(await this.command<string>('GET', '/screenshot'), 'base64');
  }

  /** Ends the session; the driver closes the app. */
  async end(): Promise<void> {
    await send('DELETE', this.base).catch(() => undefined);
  }
}

async function send<T>(method: string, url: string, body?: unknown): Promise<T> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const parsed = (await response.json().catch(() => ({}))) as { value?: unknown };
  if (!response.ok) {
    throw new WebDriverError(`${method} ${url}: ${response.status} ${JSON.stringify(parsed.value ?? parsed)}`);
  }
  return parsed.value as T;
}
