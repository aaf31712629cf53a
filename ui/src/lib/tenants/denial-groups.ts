import type { Denial } from '$lib/backend';

/** Repeats of one refusal: the same route, status and code. */
export interface DenialGroup {
  key: string;
  status: number;
  code: string;
  /** The route's prefix, or the path when no route matched. */
  route: string;
  count: number;
  /** ISO instants of the oldest and newest denial in the group. */
  first: string;
  last: string;
  /** The newest denial of the group, whose facts and request id stand for it. */
  latest: Denial;
}

/**
 * Folds denials into one row per (route, status, code), newest group first, so 27 identical
 * refusals read as one row "×27" with when they started and when the last one came.
 */
export function groupDenials(denials: readonly Denial[]): DenialGroup[] {
  const groups = new Map<string, DenialGroup>();
  for (const d of denials) {
    const route = d.route ?? d.path;
    const key = `${route}\u0000${d.status}\u0000${d.code}`;
    const at = Date.parse(d.at);
    const group = groups.get(key);
    if (!group) {
      groups.set(key, { key, status: d.status, code: d.code, route, count: 1, first: d.at, last: d.at, latest: d });
      continue;
    }
    group.count += 1;
    if (at < Date.parse(group.first)) group.first = d.at;
    if (at > Date.parse(group.last) || (at === Date.parse(group.last) && d.id > group.latest.id)) {
      group.last = d.at;
      group.latest = d;
    }
  }
  return [...groups.values()].sort((a, b) => Date.parse(b.last) - Date.parse(a.last) || b.latest.id - a.latest.id);
}
