import { describe, expect, it } from 'vitest';
import { entryKindTone, humanize, isLowBalance, standingTone, subscriptionTone } from './tone';

describe('tones', () => {
  it('flags every standing that stops traffic', () => {
    expect(standingTone('active')).toBe('ok');
    expect(standingTone('suspended')).toBe('warn');
    expect(standingTone('blocked')).toBe('danger');
  });

  it('flags subscriptions by urgency', () => {
    expect(subscriptionTone('active')).toBe('ok');
    expect(subscriptionTone('trialing')).toBe('info');
    expect(subscriptionTone('past_due')).toBe('warn');
    expect(subscriptionTone('canceled')).toBe('danger');
    expect(subscriptionTone('expired')).toBe('danger');
  });

  it('colours ledger entries by what they mean for the balance', () => {
    expect(entryKindTone('topup')).toBe('ok');
    expect(entryKindTone('grant')).toBe('ok');
    expect(entryKindTone('refund')).toBe('ok');
    expect(entryKindTone('adjustment')).toBe('info');
    expect(entryKindTone('expiry')).toBe('warn');
    expect(entryKindTone('debit')).toBe('neutral');
  });

  it('writes wire words for people', () => {
    expect(humanize('past_due')).toBe('past due');
    expect(humanize('change-plan')).toBe('change plan');
  });
});

describe('isLowBalance', () => {
  it('marks balances at or below the threshold', () => {
    expect(isLowBalance(100, 100)).toBe(true);
    expect(isLowBalance(0, 100)).toBe(true);
    expect(isLowBalance(101, 100)).toBe(false);
  });

  it('marks an empty account even with a zero threshold', () => {
    expect(isLowBalance(0, 0)).toBe(true);
    expect(isLowBalance(1, 0)).toBe(false);
  });

  it('marks nothing when the threshold is unknown', () => {
    expect(isLowBalance(0, null)).toBe(false);
    expect(isLowBalance(0, undefined)).toBe(false);
  });
});
