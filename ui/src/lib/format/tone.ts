import type { EntryKind, Standing, SubscriptionStatus } from '$lib/backend';

/** How urgently a status word should catch the eye. */
export type Tone = 'ok' | 'warn' | 'danger' | 'info' | 'neutral';

/** A tenant's standing: anything but active stops its traffic. */
export function standingTone(standing: Standing): Tone {
  switch (standing) {
    case 'active':
      return 'ok';
    case 'suspended':
      return 'warn';
    case 'blocked':
      return 'danger';
  }
}

/** A subscription's status: past due still works (grace), canceled and expired do not. */
export function subscriptionTone(status: SubscriptionStatus): Tone {
  switch (status) {
    case 'active':
      return 'ok';
    case 'trialing':
      return 'info';
    case 'past_due':
      return 'warn';
    case 'canceled':
    case 'expired':
      return 'danger';
  }
}

/**
 * A ledger entry's kind: credits coming in stand out, corrections and expiries ask for a
 * look, and the everyday debits stay quiet.
 */
export function entryKindTone(kind: EntryKind): Tone {
  switch (kind) {
    case 'grant':
    case 'topup':
    case 'refund':
      return 'ok';
    case 'adjustment':
      return 'info';
    case 'expiry':
      return 'warn';
    case 'debit':
      return 'neutral';
  }
}

/** The words people use, not the wire form (past_due → past due). */
export function humanize(value: string): string {
  return value.replace(/[_-]+/g, ' ');
}

/**
 * Whether a balance is at or below the operator's low-balance threshold (so with a threshold
 * of 0, an empty account is still marked). Unknown threshold: nothing is marked.
 */
export function isLowBalance(balance: number, threshold: number | null | undefined): boolean {
  return threshold !== null && threshold !== undefined && balance <= threshold;
}
