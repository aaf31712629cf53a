import type { UsageMinute } from '$lib/backend';

/** Served traffic on one route over the loaded minutes. */
export interface RouteUsage {
  route: string;
  requests: number;
  credits: number;
}

/**
 * Sums per-minute usage into one line per route, busiest first: the operator asks "what does
 * this tenant pay for", not "what happened at 14:03".
 */
export function usageByRoute(minutes: readonly UsageMinute[]): RouteUsage[] {
  const totals = new Map<string, RouteUsage>();
  for (const m of minutes) {
    const line = totals.get(m.route) ?? { route: m.route, requests: 0, credits: 0 };
    line.requests += m.requests;
    line.credits += m.credits;
    totals.set(m.route, line);
  }
  return [...totals.values()].sort((a, b) => b.requests - a.requests || a.route.localeCompare(b.route));
}
