import type { ApiKey } from '$lib/backend';
import { formatRelative } from '$lib/format/time';
import type { Tone } from '$lib/format/tone';

/** Where a key stands now: the gateway's view, for the key table's badge. */
export function keyState(key: ApiKey, now: number): { text: string; tone: Tone } {
  if (key.revoked_at) return { text: 'revoked', tone: 'danger' };
  if (key.expires_at) {
    const expires = Date.parse(key.expires_at);
    if (expires <= now) return { text: 'expired', tone: 'danger' };
    if (expires - now < 24 * 3600_000) return { text: 'expiring', tone: 'warn' };
  }
  return { text: 'active', tone: 'ok' };
}

/** Usable keys first (newest first), then the dead ones, so the list reads as "what works". */
export function sortKeys(keys: readonly ApiKey[], now: number): ApiKey[] {
  const dead = (k: ApiKey) => (keyState(k, now).tone === 'danger' ? 1 : 0);
  return [...keys].sort((a, b) => dead(a) - dead(b) || Date.parse(b.created_at) - Date.parse(a.created_at));
}

/**
 * "2 min ago · 37 calls", or "never": when the key was last used and how often. The
 * server writes both with its traffic log's counts, every 5 s, so they trail the gateway by
 * up to 5 s.
 */
export function keyUse(key: ApiKey, now: number): string {
  if (!key.last_used_at) return key.calls > 0 ? `${callCount(key.calls)}` : 'never';
  return `${formatRelative(key.last_used_at, now)} · ${callCount(key.calls)}`;
}

function callCount(calls: number): string {
  return `${calls.toLocaleString('en-US')} ${calls === 1 ? 'call' : 'calls'}`;
}

/** "93 of 100 left today": a key's spend cap and what is left of it; "none" without one. */
export function keyBudget(key: ApiKey): { text: string; tone: Tone } {
  if (key.budget == null) return { text: 'none', tone: 'neutral' };
  const left = Math.max(0, key.budget - (key.budget_used ?? 0));
  const period = key.budget_period === 'day' ? 'today' : 'this month';
  const tone: Tone = left === 0 ? 'danger' : left * 5 <= key.budget ? 'warn' : 'ok';
  return { text: `${left.toLocaleString('en-US')} of ${key.budget.toLocaleString('en-US')} left ${period}`, tone };
}
