import type { NodeStatus } from '$lib/backend';
import { formatRelative } from '$lib/format/time';
import type { Tone } from '$lib/format/tone';

/** One node of a cluster as the Nodes panel shows it. */
export interface NodeRow {
  name: string;
  state: string;
  tone: Tone;
  seen: string;
  behind: string;
}

/**
 * The nodes sharing the server's PostgreSQL, down ones first (they need a look), then by
 * name; a node behind the change log is flagged even when up.
 */
export function nodeRows(nodes: NodeStatus[], now: number): NodeRow[] {
  return [...nodes]
    .sort((a, b) => Number(a.up) - Number(b.up) || a.name.localeCompare(b.name))
    .map((n) => ({
      name: n.name,
      state: !n.up ? 'down' : n.changes_behind > 0 ? 'catching up' : 'up',
      tone: !n.up ? 'danger' : n.changes_behind > 0 ? 'warn' : 'ok',
      seen: formatRelative(n.seen_at, now),
      behind: n.changes_behind === 0 ? 'none' : `${n.changes_behind} change${n.changes_behind === 1 ? '' : 's'}`,
    }));
}
