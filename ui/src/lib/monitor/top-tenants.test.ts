import { describe, expect, it } from 'vitest';
import { TopTenants } from './top-tenants';

const T0 = Date.parse('2026-11-24T12:00:00Z');
const MIN = 60_000;

describe('TopTenants', () => {
  it('ranks tenants by denials, most first, ties by name', () => {
    const top = new TopTenants(15);
    for (const t of ['acme', 'globex', 'acme', 'initech', 'globex', 'acme']) top.add(t, T0);
    top.add('hooli', T0);
    expect(top.top(T0, 3)).toEqual([
      { tenant: 'acme', count: 3 },
      { tenant: 'globex', count: 2 },
      { tenant: 'hooli', count: 1 },
    ]);
  });

  it('only counts the last 15 minutes', () => {
    const top = new TopTenants(15);
    top.add('old', T0);
    top.add('old', T0);
    top.add('recent', T0 + 10 * MIN);
    expect(top.top(T0 + 14 * MIN, 5)).toEqual([
      { tenant: 'old', count: 2 },
      { tenant: 'recent', count: 1 },
    ]);
    expect(top.top(T0 + 15 * MIN, 5)).toEqual([{ tenant: 'recent', count: 1 }]);
  });

  it('sums a tenant over several minutes', () => {
    const top = new TopTenants(15);
    for (let m = 0; m < 10; m++) top.add('acme', T0 + m * MIN);
    expect(top.top(T0 + 9 * MIN, 1)).toEqual([{ tenant: 'acme', count: 10 }]);
  });

  it('counts arrivals already in the next minute of a clock that lags', () => {
    const top = new TopTenants(15);
    top.add('acme', T0 + MIN - 1);
    top.add('acme', T0 + MIN + 5);
    expect(top.top(T0 + MIN - 500, 1)).toEqual([{ tenant: 'acme', count: 2 }]);
  });

  it('is empty when nothing was denied', () => {
    expect(new TopTenants().top(T0, 5)).toEqual([]);
  });
});
