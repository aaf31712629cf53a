/**
 * Rough edges a newcomer meets: a key's last use and call count, the audit log's filters
 * and who it names, and the Settings page saying where the server really listens.
 */
import { describe, expect, it } from 'vitest';
import { callGateway, screenshot, useStack } from './harness';
import { waitFor } from './wait';

const stack = useStack();

describe('rough edges', () => {
  it('shows key use, filters the audit log and says where the server listens', async () => {
    const { page } = stack.browser;
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await stack.tollgate.call('plan.create', { name: 'Pro', credits_per_period: 5 });
    await stack.tollgate.call('tenant.create', { name: 'acme', plan: 'pro' });
    await stack.tollgate.call('tenant.create', { name: 'globex', plan: 'pro' });
    const { secret } = await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'acme', name: 'production' });
    await stack.tollgate.call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 1 });
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await callGateway(stack.tollgate.gateway, secret)).status);
    expect(statuses, 'five served, then out of credits').toEqual([200, 200, 200, 200, 200, 402, 402]);

    // The key's row: when it was last used and how often, written with the traffic log's
    // counts every 5 s (traffic.rs COUNTS_EVERY): poll until they are, well past that.
    const calls = async () => (await stack.tollgate.call<{ calls: number }[]>('key.list', { tenant: 'acme' }))[0].calls;
    await waitFor(async () => (await calls()) === 7, 20_000, 'key.list counting 7 calls', 100);
    await page.goto(stack.tollgate.dashboard);
    await page.getByRole('link', { name: 'Monitor', exact: true }).first().waitFor();
    await page.evaluate(() => (location.hash = '#/tenants/acme'));
    const keys = page.getByRole('region', { name: 'API keys' });
    await keys.getByText('7 calls').waitFor({ timeout: 5000 });
    expect(await keys.textContent()).toMatch(/(just now|\d+ s ago) · 7 calls/);
    await screenshot(page, 'keys-last-used');

    // An action in this tab is recorded as this browser session, not "dashboard".
    await page.getByLabel('Key name').fill('staging');
    await page.getByRole('button', { name: 'Issue key' }).click();
    await page.getByRole('button', { name: 'Done' }).click();

    await page.evaluate(() => (location.hash = '#/audit'));
    const rows = page.locator('table.data tbody tr');
    await rows.first().waitFor();
    const filters = page.getByRole('search', { name: 'Filter the audit log' });
    await filters.getByLabel('Tenant', { exact: true }).selectOption('acme');
    await waitFor(async () => (await rows.count()) === 3, 5000, 'acme’s three actions');
    const targets = await rows.locator('td:nth-child(4)').allTextContents();
    expect(targets, 'only acme').toEqual(['tenant:acme', 'tenant:acme', 'tenant:acme']);
    const actors = await rows.locator('td:nth-child(2)').allTextContents();
    expect(actors[0], 'the key issued here names this browser session').toMatch(/^dashboard:chrome(-headless)?-[0-9a-f]{8}$/);
    await filters.getByLabel('Command', { exact: true }).selectOption('key');
    await waitFor(async () => (await rows.count()) === 2, 5000, 'acme’s two key actions');
    await screenshot(page, 'audit-log');

    // Settings: the command line chose other ports than the stored ones.
    await page.evaluate(() => (location.hash = '#/settings'));
    const listening = page.getByTestId('listening-now');
    await listening.waitFor();
    const text = (await listening.textContent()) ?? '';
    expect(text).toContain(new URL(stack.tollgate.gateway).host);
    expect(text).toContain(new URL(stack.tollgate.admin).host);
    expect(text).toContain('used at next start');
    await screenshot(page, 'settings-listen');
    expect(errors, 'no page errors').toEqual([]);
  });
});
