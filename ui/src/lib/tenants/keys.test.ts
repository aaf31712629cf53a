import { describe, expect, it } from 'vitest';
import type { ApiKey } from '$lib/backend';
import { keyBudget, keyState, keyUse, sortKeys } from './keys';

const NOW = Date.parse('2026-11-24T12:00:00Z');
function key(prefix: string, extra: Partial<ApiKey> = {}): ApiKey {
  return { id: 1, tenant_id: 1, prefix, name: 'default', scopes: [], created_at: '2026-11-01T00:00:00Z', calls: 0, budget_period: 'month', budget_spent: 0, budget_used: 0, ...extra };
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

describe('keyUse', () => {
  it('says when a key was last used and how often', () => {
    expect(keyUse(key('a'), NOW)).toBe('never');
    expect(keyUse(key('a', { last_used_at: '2026-11-24T11:58:00Z', calls: 37 }), NOW)).toBe('2 min ago · 37 calls');
    expect(keyUse(key('a', { last_used_at: '2026-11-21T12:00:00Z', calls: 1 }), NOW)).toBe('3 d ago · 1 call');
    expect(keyUse(key('a', { last_used_at: '2026-11-24T11:00:00Z', calls: 12345 }), NOW)).toBe('1 h ago · 12,345 calls');
  });
});

describe('keyBudget', () => {
  it('says what is left of the period and warns near the end', () => {
    expect(keyBudget(key('a'))).toEqual({ text: 'none', tone: 'neutral' });
    expect(keyBudget(key('a', { budget: 100, budget_used: 7, budget_period: 'day' }))).toEqual({ text: '93 of 100 left today', tone: 'ok' });
    expect(keyBudget(key('a', { budget: 1000, budget_used: 900 })).tone).toBe('warn');
    expect(keyBudget(key('a', { budget: 10, budget_used: 12 }))).toEqual({ text: '0 of 10 left this month', tone: 'danger' });
  });
});
