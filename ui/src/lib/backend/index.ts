/**
 * The one way the dashboard reaches Tollgate: every console command and the live event
 * stream, typed from the Rust types (`types.gen.ts`). Nothing outside this folder knows
 * which transport is in use: HTTP to `tollgate serve` in a browser, IPC in the desktop app.
 */
import type { Commands, Event } from './types.gen';
import { HttpBackend } from './http';
import { TauriBackend, inTauri } from './tauri';
import { adminToken } from './token';
import type { BackendError } from './error';

export * from './types.gen';
export { BackendError } from './error';

/** A console command's name, e.g. `credits.topup`. */
export type CommandName = keyof Commands;
/** What a command takes. */
export type Input<K extends CommandName> = Commands[K]['input'];
/** What a command returns. */
export type Output<K extends CommandName> = Commands[K]['output'];

/** Narrows the live stream on the server; comma-separated lists match any value. */
export interface EventFilter {
  status?: string;
  code?: string;
  tenant?: string;
  kind?: 'gateway' | 'console';
}

/** Callbacks for the live stream. */
export interface EventHandlers {
  onEvent(event: Event): void;
  /** The server dropped this many events because the viewer fell behind. */
  onDropped?(missed: number): void;
  onStatus?(status: 'connecting' | 'open' | 'closed'): void;
  /** The stream could not be opened or broke; it retries by itself. */
  onError?(error: BackendError): void;
  /** A remote server's stream was down from `from` to `to`: its events of that time never came. */
  onGap?(gap: FeedGap): void;
}

/** Time a remote server's live feed was down (desktop console on a remote connection). */
export interface FeedGap {
  from: string;
  to: string;
  offline_ms: number;
  reason: string;
}

/** What loading the demo data created. */
export interface DemoReport {
  tenants: number;
  keys: number;
  routes: number;
}

/** Every console command, the event stream, and the demo loader. */
export interface Backend {
  /** Runs a console command; rejects with a BackendError. */
  call<K extends CommandName>(name: K, input: Input<K>): Promise<Output<K>>;
  /** Streams events until the returned function is called; reconnects by itself. */
  subscribe(handlers: EventHandlers, filter?: EventFilter): () => void;
  /** Seeds demo plans, tenants, keys and routes and starts gentle demo traffic. */
  loadDemo(): Promise<DemoReport>;
  /** The dashboard has painted (the desktop shows its window then). */
  painted(): void;
}

let current: Backend | null = null;

/** The backend for this page, chosen once: IPC inside the desktop app, HTTP in a browser. */
export function getBackend(): Backend {
  current ??= inTauri() ? new TauriBackend() : new HttpBackend('', adminToken());
  return current;
}
