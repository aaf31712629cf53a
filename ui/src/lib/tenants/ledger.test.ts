import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '$lib/backend';
import { withNewest } from './ledger.svelte';

function entry(id: number, amount: number, balance_after: number): LedgerEntry {
  return { id, tenant_id: 1, kind: amount < 0 ? 'debit' : 'grant', amount, balance_after, created_at: '2026-12-04T10:00:00Z', actor: 'gateway', requests: 1 };
}

describe('withNewest', () => {
  it('puts new entries in front and keeps the older pages shown', () => {
    const shown = [entry(30, -1, 70), entry(29, -1, 71), entry(5, 100, 100)];
    const page = [entry(32, -2, 66), entry(31, -2, 68), entry(30, -1, 70)];
    const { entries, keptOlder } = withNewest(page, shown);
    expect(entries.map((e) => e.id)).toEqual([32, 31, 30, 29, 5]);
    expect(keptOlder).toBe(true);
  });

  it('shows an entry that grew in place as the page has it', () => {
    // An open usage entry takes in later usage: same id, larger amount, new balance after.
    const shown = [entry(30, -1, 70), entry(29, -1, 71)];
    const { entries } = withNewest([entry(30, -4, 67), entry(29, -1, 71)], shown);
    expect(entries).toEqual([entry(30, -4, 67), entry(29, -1, 71)]);
  });

  it('is the page alone when more than a page was written since', () => {
    const shown = [entry(3, -1, 9), entry(2, -1, 10)];
    const page = [entry(60, -1, 1), entry(59, -1, 2)];
    expect(withNewest(page, shown)).toEqual({ entries: page, keptOlder: false });
    expect(withNewest([], shown)).toEqual({ entries: [], keptOlder: false });
  });
});
