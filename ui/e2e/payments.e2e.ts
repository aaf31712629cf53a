/**
 * Stripe events in: deliveries signed with the official `stripe` library's test-header
 * helper reach the real gateway's webhook endpoint; a paid checkout lets a refused customer
 * in, a redelivery changes nothing, bad signatures change nothing, invoices move the
 * subscription, and the tenant page shows each event and what it did.
 */
import Stripe from 'stripe';
import { beforeAll, describe, expect, it } from 'vitest';
import { callGateway, screenshot, useStack } from './harness';

const stack = useStack();
const secret = 'whsec_e2e_signing_secret';
const stripe = new Stripe('sk_test_unused_no_network');
let key = '';

beforeAll(async () => {
  const call = stack.tollgate.call.bind(stack.tollgate);
  await call('plan.create', { name: 'Pay as you go', slug: 'payg', credits_per_period: 0 });
  await call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 1 });
  await call('tenant.create', { name: 'acme', plan: 'payg' });
  key = (await call<{ secret: string }>('key.issue', { tenant: 'acme' })).secret;
  await call('settings.set', { stripe_webhook_secret: secret });
});

let sequence = 0;
/** A Stripe event of `type` about `object`, as Stripe would send it. */
function event(type: string, object: Record<string, unknown>): string {
  sequence += 1;
  return JSON.stringify({ id: `evt_e2e_${sequence}`, object: 'event', type, created: Math.floor(Date.now() / 1000), data: { object } });
}

/** Delivers `payload` to the gateway's Stripe endpoint, signed with `signingSecret`. */
async function deliver(payload: string, signingSecret = secret, timestamp?: number): Promise<{ status: number; body: Record<string, any> }> {
  const header = stripe.webhooks.generateTestHeaderString({ payload, secret: signingSecret, timestamp });
  const response = await fetch(`${stack.tollgate.gateway}/_tollgate/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': header },
    body: payload,
  });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
}

async function balance(): Promise<number> {
  return (await stack.tollgate.call<{ tenant: { balance: number } }>('tenant.show', { tenant: 'acme' })).tenant.balance;
}

describe('Stripe events in', () => {
  it('a paid checkout lets the refused customer in, once, and bad deliveries change nothing', async () => {
    const refused = await callGateway(stack.tollgate.gateway, key, '/v1/x');
    expect(refused.status).toBe(402);
    expect(refused.body.code).toBe('INSUFFICIENT_CREDITS');

    const checkout = event('checkout.session.completed', {
      id: 'cs_test_1',
      object: 'checkout.session',
      client_reference_id: 'acme',
      customer: 'cus_E2E1',
      payment_status: 'paid',
      amount_total: 500,
      currency: 'usd',
      metadata: { credits: '50' },
    });
    // Refused: a wrong secret, an old signature; nothing changes.
    const forged = await deliver(checkout, 'whsec_someone_else');
    expect([forged.status, forged.body.code]).toEqual([400, 'BAD_SIGNATURE']);
    const stale = await deliver(checkout, secret, Math.floor(Date.now() / 1000) - 600);
    expect([stale.status, stale.body.code]).toEqual([400, 'BAD_SIGNATURE']);
    expect(await balance(), 'refused deliveries change nothing').toBe(0);

    const taken = await deliver(checkout);
    expect(taken.status, JSON.stringify(taken.body)).toBe(200);
    expect(taken.body.replayed).toBe(false);
    expect(taken.body.event.outcome).toBe('applied');
    expect(await balance()).toBe(50);
    const served = await callGateway(stack.tollgate.gateway, key, '/v1/x');
    expect(served.status, 'the next request passes').toBe(200);

    const again = await deliver(checkout);
    expect([again.status, again.body.replayed, again.body.event.deliveries]).toEqual([200, true, 2]);
    expect(await balance(), 'a redelivered event changes nothing').toBe(49);

    const unknown = await deliver(event('customer.created', { id: 'cus_E2E1', object: 'customer' }));
    expect([unknown.status, unknown.body.event.outcome]).toEqual([200, 'ignored']);
    const verified = await stack.tollgate.call<{ ok: boolean }>('verify');
    expect(verified.ok, 'balance == sum(ledger)').toBe(true);
  });

  it('invoices move the subscription of the tenant holding the customer id', async () => {
    const call = stack.tollgate.call.bind(stack.tollgate);
    const invoice = { id: 'in_test_1', object: 'invoice', customer: 'cus_E2E2', subscription: 'sub_test_1', amount_paid: 900 };
    const failedPayment = event('invoice.payment_failed', invoice);
    const unmatched = await deliver(failedPayment);
    expect(unmatched.body.event.outcome, 'no tenant holds cus_E2E2 yet').toBe('unmatched');
    expect(unmatched.status, 'not done: a non-2xx makes Stripe deliver it again').toBe(409);
    await call('tenant.update', { tenant: 'acme', stripe_customer: 'cus_E2E2' });
    const trial = await deliver(event('invoice.paid', { ...invoice, id: 'in_trial', amount_paid: 0 }));
    expect([trial.status, trial.body.event.outcome], 'a $0 (trial) invoice grants no period').toEqual([200, 'ignored']);

    // Stripe delivers it again (or the operator resends it): now it applies.
    const failed = await deliver(failedPayment);
    expect([failed.body.event.outcome, failed.body.event.deliveries]).toEqual(['applied', 2]);
    const subscription = async () => (await call<{ subscription: { status: string; period_end: string } }>('tenant.show', { tenant: 'acme' })).subscription;
    const before = await subscription();
    expect(before.status).toBe('past_due');
    const paid = await deliver(event('invoice.paid', invoice));
    expect(paid.body.event.detail).toContain('active again');
    const after = await subscription();
    expect([after.status, after.period_end], 'the retried payment pays the running period').toEqual(['active', before.period_end]);
    const deleted = await deliver(event('customer.subscription.deleted', { id: 'sub_test_1', object: 'subscription', customer: 'cus_E2E2' }));
    expect(deleted.body.event.outcome).toBe('applied');
    expect((await subscription()).status).toBe('canceled');
    const refused = await callGateway(stack.tollgate.gateway, key, '/v1/x');
    expect([refused.status, refused.body.code]).toEqual([402, 'SUBSCRIPTION_CANCELED']);
  });

  it('the tenant page lists each event and what it did', async () => {
    const { page } = stack.browser;
    await page.goto(stack.tollgate.dashboard);
    await page.getByRole('link', { name: 'Monitor', exact: true }).first().waitFor();
    await page.evaluate(() => (location.hash = '#/tenants/acme'));
    const panel = page.getByTestId('payment-events');
    await panel.getByText('checkout.session.completed').first().waitFor();
    const text = (await panel.textContent()) ?? '';
    expect(text).toContain('topped up 50 credits');
    expect(text).toContain('customer.subscription.deleted');
    expect(text).toContain('2 deliveries');
    await panel.scrollIntoViewIfNeeded();
    await screenshot(page, 'tenant-payment-events');
  });
});
