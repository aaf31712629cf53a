import { describe, expect, it } from 'vitest';
import type { ApiKey } from '$lib/backend';
import { keyState, sortKeys } from './keys';

const NOW = Date.parse('2026-11-24T12:00:00Z');
function key(prefix: string, extra: Partial<ApiKey> = {}): ApiKey {
  return { id: 1, tenant_id: 1, prefix, name: 'default', scopes: [], created_at: '2026-11-01T00:00:00Z', ...extra };
}

describe('keyState', () => {
  it('tells active, expiring, expired and revoked apart', () => {
    expect(keyState(key('a'), NOW)).toEqual({ text: 'active', tone: 'ok' });
    expect(keyState(key('a', { expires_at: '2026-11-24T13:00:00Z' }), NOW).text).toBe('expiring');
    expect(keyState(key('a', { expires_at: '2026-12-24T13:00:00Z' }), NOW).text).toBe('active');
    expect(keyState(key('a', { expires_at: '2026-11-24T12:00:00Z' }), NOW).text).toBe('expired');
    expect(keyState(key('a', { revoked_at: '2026-11-20T00:00:00Z', expires_at: '2027-01-01T00:00:00Z' }), NOW).text).toBe('revoked');
  });
});

describe('sortKeys', () => {
  it('lists working keys first, newest first', () => {
    const keys = [
      key('old', { created_at: '2026-10-01T00:00:00Z' }),
      key('revoked', { created_at: '2026-11-20T00:00:00Z', revoked_at: '2026-11-21T00:00:00Z' }),
      key('new', { created_at: '2026-11-10T00:00:00Z' }),
    ];
    expect(sortKeys(keys, NOW).map((k) => k.prefix)).toEqual(['new', 'old', 'revoked']);
  });
});
