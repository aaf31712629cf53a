import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '$lib/backend';
import { pendingCredits, unwrittenCredits } from './unwritten';

function entry(id: number, balance_after: number): LedgerEntry {
  return { id, tenant_id: 1, kind: 'debit', amount: -1, balance_after, created_at: '2026-12-02T10:00:00Z', actor: 'gateway', requests: 1 };
}

describe('unwrittenCredits', () => {
  it('is the shown balance less the newest entry’s balance after', () => {
    expect(unwrittenCredits(95, [entry(2, 100), entry(1, 150)], true)).toBe(-5);
  });

  it('is null when the ledger has caught up or is not loaded', () => {
    expect(unwrittenCredits(100, [entry(2, 100)], true)).toBeNull();
    expect(unwrittenCredits(95, [], false)).toBeNull();
    expect(unwrittenCredits(null, [entry(2, 100)], true)).toBeNull();
  });

  it('counts from zero for a tenant with no entries yet', () => {
    expect(unwrittenCredits(-0 + 3, [], true)).toBe(3);
  });
});

describe('pendingCredits', () => {
  it('tells strict usage committed to the journal from what memory holds', () => {
    expect(pendingCredits(92, [entry(2, 100)], true, 5)).toEqual({ inMemory: -3, committed: -5 });
    expect(pendingCredits(95, [entry(2, 100)], true, 5)).toEqual({ inMemory: null, committed: -5 });
  });

  it('is all in memory when nothing waits in the journal', () => {
    expect(pendingCredits(95, [entry(2, 100)], true, 0)).toEqual({ inMemory: -5, committed: null });
    expect(pendingCredits(100, [entry(2, 100)], true, 0)).toEqual({ inMemory: null, committed: null });
  });

  it('shows one amount when a fold came between the two answers', () => {
    // tenant.show counted 5 credits in the journal; the ledger was read after they were folded.
    expect(pendingCredits(95, [entry(3, 97), entry(2, 100)], true, 5)).toEqual({ inMemory: -2, committed: null });
    // A top-up in memory outweighs the charges: not a split worth showing.
    expect(pendingCredits(110, [entry(2, 100)], true, 5)).toEqual({ inMemory: 10, committed: null });
  });
});
