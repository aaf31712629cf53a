import { describe, expect, it } from 'vitest';
import type { LedgerEntry } from '$lib/backend';
import { unwrittenCredits } from './unwritten';

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
