import { describe, expect, it, vi } from 'vitest';
import type { LedgerEntry } from '$lib/backend';
import { LEDGER_PAGE, LedgerHistory, withNewest } from './ledger.svelte';

/** `ledger.list` answers, each released by the test when it chooses. */
const calls: { beforeId: number | null; answer: (page: LedgerEntry[]) => void }[] = [];
vi.mock('$lib/backend', () => ({
  getBackend: () => ({
    call: (_name: string, input: { before_id: number | null }) =>
      new Promise<LedgerEntry[]>((answer) => calls.push({ beforeId: input.before_id, answer })),
  }),
}));

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

describe('LedgerHistory', () => {
  it('does not let a catch-up drop an older page being loaded, nor leave loading stuck', async () => {
    const history = new LedgerHistory('acme');
    const page = (from: number) => Array.from({ length: LEDGER_PAGE }, (_, n) => entry(from - n, -1, from - n));
    const first = history.reset();
    calls.shift()!.answer(page(100));
    await first;
    const older = history.more();
    expect(history.loading).toBe(true);
    await history.catchUp(); // the page's timer fires while "Load older entries" is under way
    expect(calls.map((c) => c.beforeId), 'no catch-up request meanwhile').toEqual([100 - LEDGER_PAGE + 1]);
    calls.shift()!.answer(page(100 - LEDGER_PAGE));
    await older;
    expect(history.entries).toHaveLength(2 * LEDGER_PAGE);
    expect(history.loading).toBe(false);
    const caughtUp = history.catchUp();
    calls.shift()!.answer([entry(101, -1, 99), ...page(100).slice(0, LEDGER_PAGE - 1)]);
    await caughtUp;
    expect(history.entries.map((e) => e.id).slice(0, 2)).toEqual([101, 100]);
    expect(history.entries, 'the older pages stay').toHaveLength(2 * LEDGER_PAGE + 1);
    expect(history.hasMore).toBe(true);
  });
});
