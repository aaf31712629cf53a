/**
 * A fresh install's billing link and problem types are example.com placeholders: the
 * monitor and Settings say so until the operator sets them (the server only logs it).
 */
import { describe, expect, it } from 'vitest';
import { screenshot, useStack } from './harness';

const stack = useStack();

describe('placeholder settings', () => {
  it('are shown on the monitor and in Settings until the operator sets them', async () => {
    const { page } = stack.browser;
    await page.goto(stack.tollgate.dashboard);
    const notice = page.getByTestId('placeholder-settings');
    await notice.waitFor();
    expect(await notice.textContent()).toContain('https://billing.example.com/{tenant}');
    expect(await notice.textContent()).toContain('https://tollgate.example.com/problems/');
    await screenshot(page, 'monitor-placeholder-settings');

    await notice.getByRole('link', { name: 'Set them in Settings' }).click();
    await page.getByRole('heading', { name: 'Settings' }).waitFor();
    await page.getByTestId('placeholder-settings').waitFor();
    await screenshot(page, 'settings-placeholder-settings');

    await page.getByLabel('Billing link template').fill('https://billing.acme-api.com/{tenant}');
    await page.getByLabel('Problem type base').fill('https://acme-api.com/problems/');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByTestId('placeholder-settings').waitFor({ state: 'detached' });
    const stored = await stack.tollgate.call<{ billing_link_template: string }>('settings.get');
    expect(stored.billing_link_template, 'the notice went because the settings were saved').toBe('https://billing.acme-api.com/{tenant}');
  });
});
