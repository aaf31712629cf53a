import { Channel, invoke } from '@tauri-apps/api/core';
import type { Backend, DemoReport, EventFilter, EventHandlers, FeedGap } from './index';
import type { CommandName, Input, Output } from './index';
import type { Event } from './types.gen';
import { BackendError, backendError } from './error';

/** One message of the desktop's live feed: events batched per short tick. */
interface Batch {
  events: Event[];
  /** Events lost since the last batch because this viewer fell behind. */
  missed: number;
  /** A remote server's stream opened again (true) or broke and is being reopened (false). */
  connected?: boolean;
  /** A remote server's stream was down for this long. */
  gap?: FeedGap;
}

/** A remote server the desktop console can manage instead of its own node. */
export interface RemoteConnection {
  id: string;
  name: string;
  url: string;
  /** The admin certificate's SHA-256, pinned on first connect. */
  fingerprint: string | null;
}

/** The remote servers, and the one in use (`null`: this app's own node). */
export interface Connections {
  connections: RemoteConnection[];
  active: string | null;
}

/** The connections list (desktop only). */
export function listConnections(): Promise<Connections> {
  return call<Connections>('connections', {});
}

/** Adds a remote server after reaching it; its certificate is pinned and its token kept in the OS keyring. */
export function addConnection(name: string, url: string, token: string): Promise<RemoteConnection> {
  return call<RemoteConnection>('connection_add', { name, url, token });
}

/** Forgets a remote server and its token. */
export function removeConnection(id: string): Promise<void> {
  return call<void>('connection_remove', { id });
}

/** Switches the whole console to `id` (`null`: this app's own node); reload the screens after. */
export function useConnection(id: string | null): Promise<void> {
  return call<void>('connection_use', { id });
}

/** Whether this page runs inside the Tauri webview (its IPC bridge is present). */
export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

/** An IPC rejection (`{code, message, field?}` from the Rust side) as a BackendError. */
function ipcError(e: unknown): BackendError {
  if (typeof e === 'string') return new BackendError('IPC_ERROR', e);
  return backendError(e, 0);
}

/** Invokes a command; rejects with a BackendError only. */
async function call<T>(command: string, args: Record<string, unknown>): Promise<T> {
  try {
    return await invoke<T>(command, args);
  } catch (e) {
    throw ipcError(e);
  }
}

/**
 * The dashboard inside the desktop app: console commands through one IPC command, the
 * live feed through a Tauri channel. Errors cross as `{code, message, field?}`, as over HTTP.
 */
export class TauriBackend implements Backend {
  call<K extends CommandName>(name: K, input: Input<K>): Promise<Output<K>> {
    return call<Output<K>>('console', { name, input: input ?? {} });
  }

  loadDemo(): Promise<DemoReport> {
    return call<DemoReport>('load_demo', {});
  }

  painted(): void {
    void invoke('app_ready').catch(() => undefined);
  }

  subscribe(handlers: EventHandlers, filter: EventFilter = {}): () => void {
    let id: number | null = null;
    let ended = false;
    const channel = new Channel<Batch>();
    channel.onmessage = (batch) => {
      if (ended) return;
      if (batch.connected === false) handlers.onStatus?.('connecting');
      if (batch.gap) handlers.onGap?.(batch.gap);
      if (batch.connected === true) handlers.onStatus?.('open');
      if (batch.missed > 0) handlers.onDropped?.(batch.missed);
      for (const event of batch.events) handlers.onEvent(event);
    };
    handlers.onStatus?.('connecting');
    const wanted = Object.fromEntries(Object.entries(filter).filter(([, v]) => typeof v === 'string' && v !== ''));
    call<number>('subscribe', { filter: wanted, channel }).then(
      (subscription) => {
        id = subscription;
        if (ended) void invoke('unsubscribe', { id }).catch(() => undefined);
        else handlers.onStatus?.('open');
      },
      (e: BackendError) => {
        handlers.onError?.(e);
        handlers.onStatus?.('closed');
      },
    );
    return () => {
      ended = true;
      if (id !== null) void invoke('unsubscribe', { id }).catch(() => undefined);
      handlers.onStatus?.('closed');
    };
  }
}
