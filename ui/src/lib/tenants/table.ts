import type { TenantRow } from '$lib/backend';

/** The columns the tenant list sorts by. */
export type TenantSort = 'name' | 'balance' | 'denials' | 'plan' | 'period_end';

/** Which way a column sorts. */
export type SortDirection = 'asc' | 'desc';

/** The direction a column starts in: the numbers an operator hunts for (low balance, many denials) first. */
export function defaultDirection(key: TenantSort): SortDirection {
  return key === 'denials' ? 'desc' : 'asc';
}

/** Tenants whose slug, name, plan or e-mail contains `query` (case-insensitive). */
export function searchTenants(rows: readonly TenantRow[], query: string): TenantRow[] {
  const q = query.trim().toLowerCase();
  if (!q) return [...rows];
  return rows.filter((r) => [r.slug, r.name, r.plan, r.contact_email ?? ''].some((v) => v.toLowerCase().includes(q)));
}

/** A sorted copy; ties fall back to the slug so the order never jumps between reloads. */
export function sortTenants(rows: readonly TenantRow[], key: TenantSort, direction: SortDirection): TenantRow[] {
  const sign = direction === 'asc' ? 1 : -1;
  const compare = (a: TenantRow, b: TenantRow): number => {
    switch (key) {
      case 'balance':
        return a.balance - b.balance;
      case 'denials':
        return a.denials_24h - b.denials_24h;
      case 'plan':
        return a.plan.localeCompare(b.plan);
      case 'period_end':
        return Date.parse(a.period_end) - Date.parse(b.period_end);
      case 'name':
        return a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });
    }
  };
  return [...rows].sort((a, b) => compare(a, b) * sign || a.slug.localeCompare(b.slug));
}
