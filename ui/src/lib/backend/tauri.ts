import { Channel, invoke } from '@tauri-apps/api/core';
import type { Backend, DemoReport, EventFilter, EventHandlers } from './index';
import type { CommandName, Input, Output } from './index';
import type { Event } from './types.gen';
import { BackendError, backendError } from './error';

/** One message of the desktop's live feed: events batched per short tick. */
interface Batch {
  events: Event[];
  /** Events lost since the last batch because this viewer fell behind. */
  missed: number;
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
