import { describe, expect, it } from 'vitest';
import type { TenantRow } from '$lib/backend';
import { defaultDirection, searchTenants, sortTenants } from './table';

function row(slug: string, balance: number, denials: number, plan: string, extra: Partial<TenantRow> = {}): TenantRow {
  return { slug, name: slug.toUpperCase(), standing: 'active', plan, status: 'active', balance, period_end: '2026-12-01T00:00:00Z', denials_24h: denials, ...extra };
}

const rows = [row('acme', 500, 3, 'pro'), row('globex', 20, 40, 'starter'), row('initech', 500, 0, 'pro', { contact_email: 'ops@initech.io' })];

describe('sortTenants', () => {
  it('sorts by balance with ties by slug', () => {
    expect(sortTenants(rows, 'balance', 'asc').map((r) => r.slug)).toEqual(['globex', 'acme', 'initech']);
    expect(sortTenants(rows, 'balance', 'desc').map((r) => r.slug)).toEqual(['acme', 'initech', 'globex']);
  });

  it('sorts by denials and by plan', () => {
    expect(sortTenants(rows, 'denials', 'desc').map((r) => r.slug)).toEqual(['globex', 'acme', 'initech']);
    expect(sortTenants(rows, 'plan', 'asc').map((r) => r.slug)).toEqual(['acme', 'initech', 'globex']);
  });

  it('does not change its input', () => {
    const copy = [...rows];
    sortTenants(rows, 'balance', 'asc');
    expect(rows).toEqual(copy);
  });

  it('starts denials with the most', () => {
    expect(defaultDirection('denials')).toBe('desc');
    expect(defaultDirection('balance')).toBe('asc');
  });
});

describe('searchTenants', () => {
  it('matches slug, name, plan and e-mail', () => {
    expect(searchTenants(rows, 'GLOB').map((r) => r.slug)).toEqual(['globex']);
    expect(searchTenants(rows, 'initech.io').map((r) => r.slug)).toEqual(['initech']);
    expect(searchTenants(rows, 'starter').map((r) => r.slug)).toEqual(['globex']);
    expect(searchTenants(rows, '  ')).toHaveLength(3);
  });
});
