import type { ApiKey } from '$lib/backend';
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
