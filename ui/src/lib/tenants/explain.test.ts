import { describe, expect, it } from 'vitest';
import type { Explanation } from '$lib/backend';
import { fixButton, statusTone, subscriptionBadge, verdictTone } from './explain';

describe('explain', () => {
  it('turns each fix into the button that opens its form', () => {
    expect(fixButton('top_up')).toEqual({ label: 'Top up', action: 'topup' });
    expect(fixButton('renew').action).toBe('renew');
    expect(fixButton('change_plan').action).toBe('change-plan');
    expect(fixButton('resume').action).toBe('resume');
  });

  it('colours a tenant refused everywhere as an alarm, never as fine', () => {
    expect(verdictTone({ verdict: 'refused' })).toBe('danger');
    expect(verdictTone({ verdict: 'partly_refused' })).toBe('warn');
    expect(verdictTone({ verdict: 'serving' })).toBe('ok');
    expect(statusTone(402)).toBe('danger');
    expect(statusTone(200)).toBe('ok');
  });

  it('never shows a refused subscription as active', () => {
    const route = { route: '/v1', method: 'GET', status: 402, code: 'SUBSCRIPTION_PAST_DUE', answer: '', fix: 'renew', fix_hint: null, key_prefix: null };
    const refused = { routes: [route] } as unknown as Explanation;
    expect(subscriptionBadge('active', refused)).toEqual({ tone: 'danger', text: 'subscription past due: refused' });
    expect(subscriptionBadge('active', null).tone).toBe('ok');
  });
});
