import type { Backend, DemoReport, EventFilter, EventHandlers } from './index';
import type { CommandName, Input, Output } from './index';
import type { Event } from './types.gen';
import { BackendError, backendError } from './error';
import { SseParser } from './sse';
import { tabActor } from './actor';

/** How long to wait before reconnecting a broken event stream. */
const RECONNECT_MS = 1000;

/** The dashboard talking to `tollgate serve`'s admin API over fetch, with its bearer token. */
export class HttpBackend implements Backend {
  constructor(
    private readonly base: string,
    private readonly token: string | null,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return { ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}), ...extra };
  }

  private async post<T>(path: string, body: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}/api/${path}`, {
        method: 'POST',
        headers: this.headers({ 'Content-Type': 'application/json', 'X-Tollgate-Actor': tabActor() }),
        body: JSON.stringify(body ?? {}),
      });
    } catch (e) {
      throw new BackendError('UNREACHABLE', `cannot reach Tollgate at ${this.base || location.origin}: ${String(e)}`);
    }
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    if (!response.ok) throw backendError(parsed, response.status);
    return parsed as T;
  }

  call<K extends CommandName>(name: K, input: Input<K>): Promise<Output<K>> {
    return this.post<Output<K>>(name, input);
  }

  loadDemo(): Promise<DemoReport> {
    return this.post<DemoReport>('demo', {});
  }

  painted(): void {}

  subscribe(handlers: EventHandlers, filter: EventFilter = {}): () => void {
    const controller = new AbortController();
    const query = new URLSearchParams(
      Object.entries(filter).filter((e): e is [string, string] => typeof e[1] === 'string' && e[1] !== ''),
    ).toString();
    const url = `${this.base}/api/events${query ? `?${query}` : ''}`;
    const run = async () => {
      while (!controller.signal.aborted) {
        handlers.onStatus?.('connecting');
        try {
          const response = await fetch(url, {
            headers: this.headers({ Accept: 'text/event-stream' }),
            signal: controller.signal,
          });
          if (!response.ok || !response.body) {
            const body: unknown = await response.json().catch(() => null);
            handlers.onError?.(backendError(body, response.status));
          } else {
            handlers.onStatus?.('open');
            const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
            const parser = new SseParser();
            for (;;) {
              const { value, done } = await reader.read();
              if (done) break;
              for (const message of parser.push(value)) {
                if (message.event === 'dropped') {
                  const { missed } = JSON.parse(message.data) as { missed: number };
                  handlers.onDropped?.(missed);
                } else if (message.event === 'gateway' || message.event === 'console' || message.event === 'storage') {
                  handlers.onEvent(JSON.parse(message.data) as Event);
                }
              }
            }
          }
        } catch (e) {
          if (controller.signal.aborted) break;
          handlers.onError?.(new BackendError('UNREACHABLE', `the event stream broke: ${String(e)}`));
        }
        handlers.onStatus?.('closed');
        if (controller.signal.aborted) break;
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
      }
    };
    void run();
    return () => controller.abort();
  }
}
