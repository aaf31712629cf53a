/**
 * History that survives a reload: known traffic (served and 402s) goes through the real
 * gateway with the monitor open; after a reload the monitor shows the same counts (from the
 * stored history, then live without counting twice), in the 5-minute and the 1-hour window,
 * and the tenant page charts the tenant's own traffic.
 */
import type { Page } from 'playwright-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { callGateway, screenshot, useStack } from './harness';
import { waitFor } from './wait';

const stack = useStack();
let acme = '';
let broke = '';

const KEYS = ['SERVED', 'INSUFFICIENT_CREDITS', 'MISSING_API_KEY'] as const;

beforeAll(async () => {
  await stack.tollgate.call('plan.create', { name: 'Small', credits_per_period: 5, features: ['echo'] });
  await stack.tollgate.call('plan.create', { name: 'Empty', credits_per_period: 0, features: ['echo'] });
  await stack.tollgate.call('tenant.create', { name: 'acme', plan: 'small' });
  await stack.tollgate.call('tenant.create', { name: 'broke', plan: 'empty' });
  acme = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'acme' })).secret;
  broke = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'broke' })).secret;
  await stack.tollgate.call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 1, required_feature: 'echo' });
});

/** The integer a test id shows; a missing element or no number throws (never read as 0). */
async function integer(page: Page, testId: string): Promise<number> {
  const text = await page.getByTestId(testId).first().textContent({ timeout: 1000 });
  const digits = (text ?? '').replace(/[^\d-]/g, '');
  if (!/^-?\d+$/.test(digits)) throw new Error(`[data-testid="${testId}"] shows no integer: ${JSON.stringify(text)}`);
  return Number(digits);
}

async function counters(page: Page): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const key of KEYS) out[key] = await integer(page, `counter-${key}`);
  return out;
}

/** Waits until the counters read `expected`, and returns what they read. */
async function countersReach(page: Page, expected: Record<string, number>, what: string): Promise<Record<string, number>> {
  let seen: Record<string, number> = {};
  await waitFor(
    async () => {
      seen = await counters(page);
      return KEYS.every((k) => seen[k] === expected[k]);
    },
    10_000,
    `${what} (last seen ${JSON.stringify(seen)})`,
  );
  return seen;
}

describe('the monitor after a reload', () => {
  it('shows the counts from before it, then counts on live without doubling, and the tenant charts its traffic', async () => {
    const { page } = stack.browser;
    await page.goto(stack.tollgate.dashboard);
    await page.getByTestId('counter-SERVED').first().waitFor();
    await page.waitForTimeout(500);

    // Known traffic: acme's 5 credits served, then 3 refused for credits; 2 refused for
    // broke; one call without a key.
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await callGateway(stack.tollgate.gateway, acme)).status);
    for (let i = 0; i < 2; i++) statuses.push((await callGateway(stack.tollgate.gateway, broke)).status);
    statuses.push((await fetch(`${stack.tollgate.gateway}/v1/echo`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 402, 402, 402, 402, 402, 401]);
    const expected = { SERVED: 5, INSUFFICIENT_CREDITS: 5, MISSING_API_KEY: 1 };
    const before = await countersReach(page, expected, 'the live counters before the reload');

    await page.reload();
    await page.getByTestId('counter-SERVED').first().waitFor();
    const after = await countersReach(page, before, 'the same counts after the reload (5 minutes)');
    expect(after).toEqual(before);
    expect(await integer(page, 'top-tenant-acme'), 'top tenants from the history').toBe(3);
    expect(await integer(page, 'top-tenant-broke')).toBe(2);
    await screenshot(page, 'monitor-history-5m');

    // Right after the reload, new traffic is counted once on top of the history.
    expect((await callGateway(stack.tollgate.gateway, broke)).status).toBe(402);
    const plusOne = { ...expected, INSUFFICIENT_CREDITS: 6 };
    await countersReach(page, plusOne, 'one more 402, counted once');
    await waitFor(async () => (await integer(page, 'top-tenant-broke')) === 3, 5000, 'broke refused 3 times');

    // The longer window holds the same traffic.
    await page.getByTestId('monitor-window').selectOption('1h');
    await countersReach(page, plusOne, 'the 1-hour window');
    await page.reload();
    await page.getByTestId('monitor-window').selectOption('1h');
    await countersReach(page, plusOne, 'the 1-hour window after another reload');
    await page.waitForTimeout(300);
    await screenshot(page, 'monitor-history-1h');

    // The tenant page charts the tenant's own traffic from the same history.
    await page.goto(`${stack.tollgate.admin}/#/tenants/acme`);
    await waitFor(async () => (await integer(page, 'tenant-history-served')) === 5, 10_000, 'acme served 5');
    expect(await integer(page, 'tenant-history-INSUFFICIENT_CREDITS'), "acme's refusals only").toBe(3);
    expect(await integer(page, 'tenant-history-refused')).toBe(3);
    expect(await integer(page, 'tenant-history-credits'), 'one credit per served call').toBe(5);
    expect(await page.getByTestId('tenant-history').locator('canvas').count(), 'a chart is drawn').toBeGreaterThan(0);
    await page.getByTestId('tenant-history').scrollIntoViewIfNeeded();
    await page.waitForTimeout(300);
    await screenshot(page, 'tenant-history');
  });
});
