/**
 * The money view: the test sets up plans and tenants, tops up in the browser with a paid
 * amount, puts served and refused traffic through the real gateway to a real upstream, and
 * reads the overview's figures: each must equal what it put in. The plans list shows the
 * subscribers per plan. Screenshots: overview.png, plans-subscribers.png.
 */
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { callGateway, screenshot, useStack } from './harness';
import { waitFor } from './wait';

const stack = useStack();

async function text(page: Page, testId: string): Promise<string> {
  return ((await page.getByTestId(testId).first().textContent({ timeout: 1000 })) ?? '').trim();
}

describe('the overview in the browser', () => {
  it('shows the revenue, credits, top-ups, risks and 402s the test put in', async () => {
    const { page } = stack.browser;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));

    // Before anything exists: the screen says so instead of showing empty charts.
    await page.goto(stack.tollgate.dashboard);
    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.getByText('No plans yet.').waitFor();
    await screenshot(page, 'overview-empty');

    // Two monthly subscribers at $49.00 and one yearly at $120.00: MRR $98.00 + $10.00.
    await stack.tollgate.call('plan.create', { name: 'Pro', slug: 'pro', price_minor: 4900, currency: 'USD', billing_period: 'month', credits_per_period: 5, features: ['echo'] });
    await stack.tollgate.call('plan.create', { name: 'Yearly', slug: 'yearly', price_minor: 12_000, currency: 'USD', billing_period: 'year', credits_per_period: 0, features: ['echo'] });
    await stack.tollgate.call('tenant.create', { name: 'Acme Corp', slug: 'acme', plan: 'pro' });
    await stack.tollgate.call('tenant.create', { name: 'Globex', slug: 'globex', plan: 'pro' });
    await stack.tollgate.call('tenant.create', { name: 'Initech', slug: 'initech', plan: 'yearly' });
    await stack.tollgate.call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 1, required_feature: 'echo' });
    const key = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'acme' })).secret;

    // A top-up of 10 credits, paid $25.50, recorded in the browser.
    await page.goto(`${stack.tollgate.admin}/#/tenants/acme`);
    await page.getByRole('button', { name: 'Top up' }).first().click();
    await page.getByLabel('Amount').fill('10');
    await page.getByLabel('Paid (USD)').fill('25.505');
    await page.getByRole('button', { name: 'Confirm top-up' }).click();
    await page.getByText('USD has 2 decimals at most.').waitFor();
    await page.getByLabel('Paid (USD)').fill('25.50');
    await page.getByLabel('Note').fill('invoice 7');
    await screenshot(page, 'tenant-top-up-paid');
    await page.getByRole('button', { name: 'Confirm top-up' }).click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    const paidCell = page.getByTestId('ledger-paid').first();
    await paidCell.waitFor();
    expect(await paidCell.textContent(), 'the tenant ledger shows what was paid for the top-up').toBe('paid $25.50');

    // 5 granted + 10 topped up = 15 served calls, then 12 refused with 402.
    for (let i = 0; i < 15; i++) expect((await callGateway(stack.tollgate.gateway, key)).status, `call ${i + 1} is served`).toBe(200);
    for (let i = 0; i < 12; i++) {
      const answer = await callGateway(stack.tollgate.gateway, key);
      expect([answer.status, answer.body.code], `refusal ${i + 1}`).toEqual([402, 'INSUFFICIENT_CREDITS']);
    }

    await page.getByRole('link', { name: 'Overview', exact: true }).click();
    await page.getByRole('button', { name: 'Today' }).click();
    // Usage reaches the ledger and 402s their counts within seconds: refresh until they have.
    await waitFor(
      async () => {
        await page.getByRole('button', { name: 'Refresh' }).click();
        await page.waitForTimeout(200);
        return (await text(page, 'credits-consumed')) === '15' && (await text(page, 'denied-402')) === '12';
      },
      15_000,
      'the usage and the 402s in the overview',
      500,
    );
    expect(await text(page, 'mrr-USD'), 'MRR: 2 × $49.00 + $120.00 / 12').toBe('$108.00');
    expect(await text(page, 'plan-mrr-pro')).toBe('$98.00');
    expect(await text(page, 'plan-mrr-yearly')).toBe('$10.00');
    expect(await text(page, 'plan-active-pro')).toBe('2');
    expect(await text(page, 'subscribers-total')).toBe('3');
    expect(await text(page, 'credits-granted'), "two pro tenants' 5 credits").toBe('10');
    expect(await text(page, 'credits-topped-up')).toBe('10');
    expect(await text(page, 'requests-charged')).toBe('15');
    expect(await text(page, 'topup-paid-USD')).toBe('$25.50');
    expect(await text(page, 'topup-count')).toBe('1');
    expect(await text(page, 'denials-402-INSUFFICIENT_CREDITS')).toBe('12');
    const topup = page.locator('[data-testid="topup-row"][data-tenant="acme"]');
    expect(await topup.count()).toBe(1);
    expect(await topup.textContent()).toContain('invoice 7');
    const acme = page.getByTestId('risk-acme');
    expect((await acme.getAttribute('data-risks'))?.split(' '), 'out of credits and refused 12 times').toEqual(['low_balance', 'many_402s']);
    expect(await page.getByTestId('risk-globex').getAttribute('data-risks'), '5 credits is below the threshold of 100').toBe('low_balance');

    // The same figures as the ledger holds.
    const ledger = await stack.tollgate.call<{ kind: string; amount: number; paid_minor: number | null; paid_currency: string | null }[]>('ledger.list', { tenant: 'acme' });
    const paid = ledger.filter((e) => e.kind === 'topup').map((e) => [e.amount, e.paid_minor, e.paid_currency]);
    expect(paid).toEqual([[10, 2550, 'USD']]);
    const consumed = -ledger.filter((e) => e.kind === 'debit').reduce((sum, e) => sum + e.amount, 0);
    expect(consumed).toBe(15);
    // A week: the same figures (the database is new), the charts a week wide.
    await page.getByRole('button', { name: '7 days' }).click();
    await waitFor(async () => (await text(page, 'overview-window')).startsWith('The last 7 days'), 5000, 'the 7-day window');
    expect(await text(page, 'credits-consumed')).toBe('15');
    expect(await text(page, 'topup-paid-USD')).toBe('$25.50');
    await page.waitForTimeout(300); // let the charts draw
    await screenshot(page, 'overview');

    await page.getByRole('link', { name: 'Plans', exact: true }).click();
    await waitFor(async () => (await text(page, 'subscribers-pro')) === '2', 5000, 'subscribers on the plans list');
    expect(await text(page, 'subscribers-yearly')).toBe('1');
    await screenshot(page, 'plans-subscribers');
    expect(errors, 'no uncaught errors in the page').toEqual([]);
  });
});
