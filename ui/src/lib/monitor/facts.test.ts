import { describe, expect, it } from 'vitest';
import { describeFacts } from './facts';

describe('describeFacts', () => {
  it('orders the facts that explain a denial first', () => {
    expect(describeFacts({ plan: 'pro', cost: 5, balance: 0, tenant: 'acme' })).toEqual([
      { label: 'balance', value: '0' },
      { label: 'cost', value: '5' },
      { label: 'plan', value: 'pro' },
    ]);
  });

  it('words features, retries and period ends', () => {
    expect(describeFacts({ required_feature: 'export', retry_after: 2, period_end: '2026-12-01T00:00:00Z' })).toEqual([
      { label: 'needs', value: 'export' },
      { label: 'period end', value: '2026-12-01' },
      { label: 'retry after', value: '2 s' },
    ]);
  });

  it('groups large balances', () => {
    expect(describeFacts({ balance: 1234567 })).toEqual([{ label: 'balance', value: '1,234,567' }]);
  });

  it('falls back to the event for served requests', () => {
    expect(describeFacts(null, { cost: 5, balance: 95 })).toEqual([
      { label: 'balance', value: '95' },
      { label: 'cost', value: '5' },
    ]);
    expect(describeFacts(undefined, { cost: 0, balance: null })).toEqual([]);
  });

  it('skips empty values and what has its own column', () => {
    expect(describeFacts({ link: 'https://x', request_id: 'r', plan: null, extra: 'x' })).toEqual([{ label: 'extra', value: 'x' }]);
  });
});
