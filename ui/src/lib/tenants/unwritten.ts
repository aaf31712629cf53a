import type { LedgerEntry } from '$lib/backend';

/**
 * Credits the gateway has charged (or reserved) in memory but not yet written to the ledger:
 * `batched` usage is summed per tenant and written every `usage_flush_ms`, so the balance
 * `tenant.show` answers runs ahead of the newest entry's "balance after". Null when the
 * newest entry is not known (ledger not loaded) or nothing is pending. Negative: charges.
 */
export function unwrittenCredits(shownBalance: number | null, newestFirst: readonly LedgerEntry[], loaded: boolean): number | null {
  if (shownBalance === null || !loaded) return null;
  const written = newestFirst[0]?.balance_after ?? 0;
  const pending = shownBalance - written;
  return pending === 0 ? null : pending;
}

/** What stands between the shown balance and the newest entry, newest first. */
export interface Pending {
  /** Usage only memory holds (batched, or strict requests still committing); null if none. */
  inMemory: number | null;
  /** Strict usage committed to the journal, not yet folded into an entry; null if none. */
  committed: number | null;
}

/**
 * Splits [`unwrittenCredits`] into what memory holds and the `strict` usage committed to the
 * journal (`unfolded`, from `tenant.show`, a positive count of credits charged). The two
 * answers are read a moment apart: when a fold came between them, the committed part no
 * longer fits inside the difference, and all of it is shown as one unwritten amount.
 */
export function pendingCredits(shownBalance: number | null, newestFirst: readonly LedgerEntry[], loaded: boolean, unfolded: number): Pending {
  const total = unwrittenCredits(shownBalance, newestFirst, loaded);
  if (total === null) return { inMemory: null, committed: null };
  const committed = -unfolded;
  if (unfolded <= 0 || total > 0 || committed < total) return { inMemory: total, committed: null };
  const rest = total - committed;
  return { inMemory: rest === 0 ? null : rest, committed };
}
