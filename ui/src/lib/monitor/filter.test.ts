import { describe, expect, it } from 'vitest';
import type { GatewayEvent } from '$lib/backend';
import { emptyFilter, isFilterActive, matchesFilter } from './filter';

function event(overrides: Partial<GatewayEvent> = {}): GatewayEvent {
  return {
    at: '2026-11-24T12:00:00Z',
    request_id: 'req_1',
    tenant: 'acme',
    key_prefix: 'tg_live_AbCd',
    route: '/v1/search',
    method: 'GET',
    path: '/v1/search/items',
    status: 200,
    code: null,
    cost: 5,
    balance: 100,
    latency_us: 900,
    facts: null,
    ...overrides,
  };
}

describe('matchesFilter', () => {
  const denied = event({ status: 402, code: 'INSUFFICIENT_CREDITS', tenant: 'globex', request_id: 'req_2' });

  it('lets everything through when empty', () => {
    expect(isFilterActive(emptyFilter())).toBe(false);
    expect(matchesFilter(event(), emptyFilter())).toBe(true);
    expect(matchesFilter(denied, emptyFilter())).toBe(true);
  });

  it('hides served requests with "denials only"', () => {
    const filter = { ...emptyFilter(), deniedOnly: true };
    expect(isFilterActive(filter)).toBe(true);
    expect(matchesFilter(event(), filter)).toBe(false);
    expect(matchesFilter(denied, filter)).toBe(true);
  });

  it('filters by status class, code and exact tenant', () => {
    expect(matchesFilter(denied, { ...emptyFilter(), status: '402' })).toBe(true);
    expect(matchesFilter(event(), { ...emptyFilter(), status: '402' })).toBe(false);
    expect(matchesFilter(event(), { ...emptyFilter(), code: 'SERVED' })).toBe(true);
    expect(matchesFilter(denied, { ...emptyFilter(), code: 'RATE_LIMITED' })).toBe(false);
    expect(matchesFilter(denied, { ...emptyFilter(), tenant: 'globex' })).toBe(true);
    expect(matchesFilter(denied, { ...emptyFilter(), tenant: 'glob' })).toBe(false);
  });

  it('searches free text case-insensitively across the row', () => {
    expect(matchesFilter(denied, { ...emptyFilter(), text: 'insufficient' })).toBe(true);
    expect(matchesFilter(event(), { ...emptyFilter(), text: 'ABCD' })).toBe(true);
    expect(matchesFilter(event(), { ...emptyFilter(), text: '/items' })).toBe(true);
    expect(matchesFilter(event(), { ...emptyFilter(), text: '  ' })).toBe(true);
    expect(matchesFilter(event(), { ...emptyFilter(), text: 'nothing-like-this' })).toBe(false);
  });

  it('copes with events that have no tenant yet (401 before the key is known)', () => {
    const anonymous = event({ tenant: null, key_prefix: null, status: 401, code: 'MISSING_API_KEY' });
    expect(matchesFilter(anonymous, { ...emptyFilter(), tenant: 'acme' })).toBe(false);
    expect(matchesFilter(anonymous, { ...emptyFilter(), text: 'missing' })).toBe(true);
  });
});
