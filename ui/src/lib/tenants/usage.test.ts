import { describe, expect, it } from 'vitest';
import { usageByRoute } from './usage';

const minute = (route: string, requests: number, credits: number, at = '2026-11-24T12:00:00Z') => ({ minute: at, tenant: 'acme', route, requests, credits });

describe('usageByRoute', () => {
  it('sums minutes per route, busiest first', () => {
    expect(usageByRoute([minute('/v1/search', 10, 50), minute('/v1/export', 30, 600), minute('/v1/search', 5, 25, '2026-11-24T12:01:00Z')])).toEqual([
      { route: '/v1/export', requests: 30, credits: 600 },
      { route: '/v1/search', requests: 15, credits: 75 },
    ]);
  });

  it('is empty without usage', () => {
    expect(usageByRoute([])).toEqual([]);
  });
});
