/**
 * The operator's loop, all in the UI: create a plan, a tenant, a key and a route; spend the
 * credits through the gateway; see the 402 arrive in the live monitor; open the tenant from
 * it, top up, and see the next request pass. Screenshots of every screen are saved.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { callGateway, screenshot, useStack } from './harness';
import { waitFor } from './wait';

const stack = useStack();

async function open(page: Page, screen: string): Promise<void> {
  await page.getByRole('link', { name: screen, exact: true }).first().click();
}

/**
 * The integer a counter or balance shows (thousands separators allowed). A missing element
 * or one that shows no number throws: it is never read as 0.
 */
async function integer(page: Page, testId: string): Promise<number> {
  const text = await page.getByTestId(testId).first().textContent({ timeout: 1000 });
  const digits = (text ?? '').replace(/[^\d-]/g, '');
  if (!/^-?\d+$/.test(digits)) throw new Error(`[data-testid="${testId}"] shows no integer: ${JSON.stringify(text)}`);
  return Number(digits);
}

describe('the operator in the browser', () => {
  it('sets up, watches a 402 arrive, tops up, and sees the next request pass', async () => {
    const { page } = stack.browser;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(stack.tollgate.dashboard);
    await page.getByRole('link', { name: 'Monitor', exact: true }).first().waitFor();
    expect(page.url(), 'the token leaves the address bar at once').not.toContain('token=');
    await screenshot(page, 'first-start');

    // A plan with 3 credits per period and the feature the route will need.
    await open(page, 'Plans');
    await page.getByRole('button', { name: 'New plan' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Basic');
    await page.getByLabel('Credits per period').fill('3');
    await page.getByLabel('Features').fill('echo');
    await page.getByRole('button', { name: 'Create plan' }).click();
    await page.getByText('basic', { exact: true }).first().waitFor();
    await screenshot(page, 'plans');

    // A tenant on it, which receives the period's 3 credits.
    await open(page, 'Tenants');
    await page.getByRole('button', { name: 'New tenant' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Acme Corp');
    await page.getByLabel('Plan', { exact: true }).selectOption('basic');
    await page.getByRole('button', { name: 'Create tenant' }).click();
    await page.getByText('acme-corp').first().waitFor();
    await screenshot(page, 'tenants');

    // A route to the upstream, cost 1, needing the plan's feature.
    await open(page, 'Routes');
    await page.getByRole('button', { name: 'New route' }).click();
    await page.getByLabel('Path prefix').fill('/v1');
    // The server refuses what the form lets through; its message appears at the field: an
    // https:// upstream's private CA must be a certificate.
    await page.getByLabel('Upstream URL').fill('https://api.internal:8443');
    await page.getByLabel('Upstream CA (PEM)').fill('/etc/ssl/private-ca.pem');
    await page.getByLabel('Cost').fill('1');
    await page.getByRole('button', { name: 'Create route' }).click();
    const refusal = page.getByLabel('Upstream CA (PEM)');
    await waitFor(async () => (await refusal.getAttribute('aria-invalid')) === 'true', 5000, 'the field error');
    const describedBy = (await refusal.getAttribute('aria-describedby')) ?? '';
    const fieldError = await page.locator(`[id="${describedBy.split(' ').pop()}"]`).textContent();
    expect(fieldError, 'the server\'s message, next to its field').toMatch(/^Must be PEM certificates/);
    await screenshot(page, 'route-field-error');
    // An http:// upstream has no CA field, and sends none.
    await page.getByLabel('Upstream URL').fill(stack.upstream.url);
    expect(await page.getByLabel('Upstream CA (PEM)').count(), 'no CA for http://').toBe(0);
    await page.getByLabel('Cost').fill('1');
    await page.getByLabel('Required feature').fill('echo');
    await page.getByRole('button', { name: 'Create route' }).click();
    await page.getByText(stack.upstream.url).first().waitFor();

    // A second route to an https:// upstream behind a private CA, read from its file.
    await page.getByRole('button', { name: 'New route' }).click();
    await page.getByLabel('Path prefix').fill('/internal');
    await page.getByLabel('Upstream URL').fill('https://api.internal:8443');
    await page.getByLabel('Read the CA from a file').setInputFiles(fileURLToPath(new URL('./fixtures/private-ca.pem', import.meta.url)));
    await waitFor(async () => (await page.getByLabel('Upstream CA (PEM)').inputValue()).startsWith('-----BEGIN CERTIFICATE-----'), 5000, 'the file read');
    // Only from the office: a bad entry is refused at its field, naming it.
    const allowed = page.getByLabel('Allowed addresses');
    await allowed.fill('10.0.0.0/8\n10.0.0.300');
    await page.getByRole('button', { name: 'Create route' }).click();
    await waitFor(async () => (await allowed.getAttribute('aria-invalid')) === 'true', 5000, 'the address field error');
    const allowedError = await page.locator(`[id="${((await allowed.getAttribute('aria-describedby')) ?? '').split(' ').pop()}"]`).textContent();
    expect(allowedError, 'the bad entry is named at its field').toContain("'10.0.0.300'");
    await allowed.fill('10.0.0.0/8, 192.168.1.7');
    await page.getByRole('button', { name: 'Create route' }).click();
    await page.getByText('https://api.internal:8443').first().waitFor();
    const internal = page.getByRole('row').filter({ hasText: '/internal' });
    expect(await internal.getByText('private CA').count(), 'the route says it trusts its own CA').toBe(1);
    expect(await internal.getByText('allow 10.0.0.0/8, 192.168.1.7/32').count(), 'the route lists its allowed addresses').toBe(1);
    await screenshot(page, 'routes');

    // A key, shown once.
    await page.goto(`${stack.tollgate.admin}/#/tenants/acme-corp`);
    await page.getByRole('button', { name: 'Issue key' }).first().click();
    const confirm = page.getByRole('dialog').getByRole('button', { name: /issue/i });
    if (await confirm.isVisible().catch(() => false)) await confirm.click();
    const secret = ((await page.getByTestId('issued-secret').textContent()) ?? '').trim();
    expect(secret, 'the secret is shown once').toMatch(/^tg_live_/);
    await screenshot(page, 'tenant-key-issued');
    await page.keyboard.press('Escape');

    // Spend the credits with the monitor open; the 402 must appear within a second.
    await open(page, 'Monitor');
    let denied: { status: number; body: Record<string, unknown> } | null = null;
    for (let i = 0; i < 10 && !denied; i++) {
      const answer = await callGateway(stack.tollgate.gateway, secret);
      if (answer.status === 402) denied = answer;
      else expect(answer.status, `request ${i + 1} is served`).toBe(200);
    }
    expect(denied?.body.code, 'credits ran out').toBe('INSUFFICIENT_CREDITS');
    const row = page.locator('[data-testid="event-row"][data-code="INSUFFICIENT_CREDITS"][data-tenant="acme-corp"]');
    const since = Date.now();
    await waitFor(async () => (await row.count()) > 0, 1000, 'the 402 in the live monitor');
    const latency = Date.now() - since;
    console.log(`402 visible in the monitor ${latency} ms after the client got it`);
    // The counters carry on from the stored history, so they move once it has answered (on a
    // loaded machine that can be after the row shows); then the 402 is counted once.
    await waitFor(async () => (await integer(page, 'counter-INSUFFICIENT_CREDITS')) >= 1, 2000, 'the 402 counted');
    expect(await integer(page, 'counter-INSUFFICIENT_CREDITS'), 'counted once').toBe(1);
    expect(await integer(page, 'counter-SERVED'), 'and the three served calls').toBe(3);
    await screenshot(page, 'monitor-402');

    // Open the tenant from the event, top up there.
    await row.first().click();
    await page.waitForURL(/#\/tenants\/acme-corp/);
    await waitFor(async () => (await integer(page, 'balance')) === 0, 5000, 'the tenant shows a balance of 0');
    await page.getByRole('button', { name: 'Top up' }).first().click();
    await page.getByLabel('Amount').fill('10');
    await page.getByLabel('Note').fill('e2e top-up');
    await screenshot(page, 'tenant-top-up');
    await page.getByRole('button', { name: 'Confirm top-up' }).click();
    await waitFor(async () => (await integer(page, 'balance')) === 10, 5000, 'the balance shows the top-up');
    await screenshot(page, 'tenant');

    // The very next request passes, and the monitor shows it.
    const after = await callGateway(stack.tollgate.gateway, secret);
    expect(after.status, 'the next request passes').toBe(200);
    await open(page, 'Monitor');
    await waitFor(async () => (await integer(page, 'counter-SERVED')) === 4, 2000, 'the served request in the monitor');
    const passed = page.locator('[data-testid="event-row"][data-status="200"][data-tenant="acme-corp"]');
    expect(await passed.count(), 'served rows are listed').toBeGreaterThan(0);
    await screenshot(page, 'monitor-passed');

    // The ledger agrees: 3 granted, 3 spent, 10 topped up, 1 spent.
    const report = await stack.tollgate.call<{ ok: boolean }>('verify');
    expect(report.ok, 'balance == sum(ledger)').toBe(true);

    for (const screen of ['Settings', 'Audit log']) {
      await open(page, screen);
      await page.waitForTimeout(300);
      await screenshot(page, screen.toLowerCase().replace(' ', '-'));
    }
    expect(errors, 'no uncaught errors in the page').toEqual([]);
  });
});
