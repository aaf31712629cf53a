import { describe, expect, it } from 'vitest';
import type { Explanation } from '$lib/backend';
import { contradicts, fixButton, statusTone, subscriptionBadge, verdictTone } from './explain';

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

describe('a live decision that contradicts the answers', () => {
  const served = { routes: [{ route: '/v1', method: 'GET', status: 200, answer: 'served' }] } as Pick<Explanation, 'routes'>;
  const broke = {
    routes: [{ route: '/v1', method: 'GET', status: 402, code: 'INSUFFICIENT_CREDITS', answer: 'every call gets 402' }],
  } as Pick<Explanation, 'routes'>;

  it('is a 402 or a block the page does not show, or a call served where it says refused', () => {
    expect(contradicts(served, { route: '/v1', status: 402, code: 'INSUFFICIENT_CREDITS' })).toBe(true);
    expect(contradicts(served, { route: '/v1', status: 403, code: 'TENANT_BLOCKED' })).toBe(true);
    expect(contradicts(broke, { route: '/v1', status: 200, code: null })).toBe(true);
    expect(contradicts(broke, { route: '/v1', status: 402, code: 'SUBSCRIPTION_PAST_DUE' })).toBe(true);
  });

  it('is not what the page already says, another route, or a refusal of one key or one moment', () => {
    expect(contradicts(broke, { route: '/v1', status: 402, code: 'INSUFFICIENT_CREDITS' })).toBe(false);
    expect(contradicts(served, { route: '/v1', status: 200, code: null })).toBe(false);
    expect(contradicts(served, { route: '/v2', status: 402, code: 'INSUFFICIENT_CREDITS' })).toBe(false);
    expect(contradicts(served, { route: '/v1', status: 429, code: 'RATE_LIMITED' })).toBe(false);
    expect(contradicts(served, { route: '/v1', status: 401, code: 'API_KEY_REVOKED' })).toBe(false);
  });
});
