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
