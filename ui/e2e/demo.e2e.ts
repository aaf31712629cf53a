/**
 * A newcomer's first minute: open the printed URL on an empty console, press
 * "Load demo data", and watch denials stream into the live monitor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot, startTollgate, type Tollgate } from './harness';

let tollgate: Tollgate;
let browser: Awaited<ReturnType<typeof launchBrowser>>;

beforeAll(async () => {
  tollgate = await startTollgate();
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await tollgate?.stop();
});

describe('the first start', () => {
  it('loads demo data and the monitor moves at once', async () => {
    const { page } = browser;
    await page.goto(tollgate.dashboard);
    await page.getByRole('button', { name: 'Load demo data' }).click();
    const denial = page.locator('[data-testid="event-row"][data-status="402"]');
    await denial.first().waitFor({ timeout: 10_000 });
    const served = page.locator('[data-testid="event-row"][data-status="200"]');
    await served.first().waitFor({ timeout: 10_000 });
    expect(await page.getByRole('button', { name: 'Load demo data' }).count(), 'the offer is gone').toBe(0);
    const tenants = await tollgate.call<unknown[]>('tenant.list');
    expect(tenants.length, 'the demo tenants exist').toBe(4);
    await screenshot(page, 'monitor-demo');
  });
});
