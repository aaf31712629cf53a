/**
 * The console's forms for what had no UI: refund a charge (refused above what is left of
 * it, beside the amount, changing nothing), import tenants from a file with a preview
 * (a bad line is shown and nothing is created; a good file creates what the preview
 * showed), edit a tenant, and repeated denials grouped with their counts. Real server,
 * real upstream, real chromium.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { callGateway, screenshot, useStack } from './harness';
import { waitFor } from './wait';

interface LedgerEntry {
  kind: string;
  amount: number;
}
interface TenantRow {
  slug: string;
  name: string;
  balance: number;
  contact_email?: string | null;
}
interface Denial {
  code: string;
  route?: string | null;
  path: string;
}

const stack = useStack();
let files: string;
let acmeKey: string;
let brokeKey: string;

beforeAll(async () => {
  files = mkdtempSync(path.join(tmpdir(), 'tollgate-import-'));
  await stack.tollgate.call('plan.create', { name: 'basic', credits_per_period: 10, features: ['echo'] });
  await stack.tollgate.call('plan.create', { name: 'empty', credits_per_period: 0, features: ['echo'] });
  // Named as its slug: the page must not read "acme acme".
  await stack.tollgate.call('tenant.create', { name: 'acme', plan: 'basic' });
  await stack.tollgate.call('tenant.create', { name: 'broke', plan: 'empty' });
  acmeKey = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'acme' })).secret;
  brokeKey = (await stack.tollgate.call<{ secret: string }>('key.issue', { tenant: 'broke' })).secret;
  await stack.tollgate.call('route.create', { path_prefix: '/v1', upstream_url: stack.upstream.url, cost: 2, required_feature: 'echo' });
  await stack.tollgate.call('route.create', { path_prefix: '/gold', upstream_url: stack.upstream.url, cost: 1, required_feature: 'gold' });
});

afterAll(async () => {
  if (files) rmSync(files, { recursive: true, force: true });
});

async function openTenant(page: Page, slug: string): Promise<void> {
  await page.goto(`${stack.tollgate.dashboard.split('#')[0]}#/tenants/${slug}`);
  await page.getByTestId('balance').waitFor();
}

async function tenants(): Promise<TenantRow[]> {
  return stack.tollgate.call<TenantRow[]>('tenant.list', {});
}

describe('the console forms', () => {
  it('refuses a refund above what is left of the charge, beside the amount, and changes nothing', async () => {
    const { page } = stack.browser;
    const served = await fetch(`${stack.tollgate.gateway}/v1/echo`, { headers: { Authorization: `Bearer ${acmeKey}` } });
    expect(served.status).toBe(200);
    const requestId = served.headers.get('x-request-id');
    expect(requestId).toBeTruthy();
    // Batched usage reaches the ledger within usage_flush_ms: wait for it, so the balance
    // and ledger compared below move only if the refund moves them.
    await waitFor(
      async () => (await stack.tollgate.call<LedgerEntry[]>('ledger.list', { tenant: 'acme' })).some((e) => e.kind === 'debit'),
      30_000,
      'the usage written to the ledger',
    );

    await page.goto(stack.tollgate.dashboard);
    await openTenant(page, 'acme');
    // The name equals the slug: it is shown once.
    const head = page.locator('.page-head');
    expect(await head.locator('h1').textContent()).toBe('acme');
    expect(await head.locator('code').count(), 'no slug repeating the name').toBe(0);

    const before = (await tenants()).find((t) => t.slug === 'acme')!.balance;
    const ledgerBefore = await stack.tollgate.call<LedgerEntry[]>('ledger.list', { tenant: 'acme' });
    await page.getByRole('button', { name: 'Refund', exact: true }).click();
    await page.getByRole('dialog').getByLabel('Request id').fill(requestId!);
    await page.getByLabel('Amount').fill('5');
    await page.getByRole('button', { name: 'Confirm refund' }).click();
    const amount = page.getByLabel('Amount');
    await waitFor(async () => (await amount.getAttribute('aria-invalid')) === 'true', 5000, 'the amount field error');
    const described = (await amount.getAttribute('aria-describedby')) ?? '';
    const errorId = described.split(' ').find((id) => id.endsWith('-error'))!;
    const message = await page.locator(`[id="${errorId}"]`).textContent();
    expect(message).toContain('was charged 2 credits and 2 are left to refund; 5 is too many');
    await screenshot(page, 'refund-error');

    expect((await tenants()).find((t) => t.slug === 'acme')!.balance, 'the balance did not move').toBe(before);
    const ledgerAfter = await stack.tollgate.call<LedgerEntry[]>('ledger.list', { tenant: 'acme' });
    expect(ledgerAfter, 'no ledger entry was written').toEqual(ledgerBefore);

    // What is left of the charge can be given back.
    await amount.fill('2');
    await page.getByRole('button', { name: 'Confirm refund' }).click();
    await page.getByText('Refunded +2 credits').waitFor();
    const refunds = (await stack.tollgate.call<LedgerEntry[]>('ledger.list', { tenant: 'acme' })).filter((e) => e.kind === 'refund');
    expect(refunds.map((e) => e.amount)).toEqual([2]);
  });

  it('edits a tenant, and the change persists', async () => {
    const { page } = stack.browser;
    await openTenant(page, 'acme');
    await page.getByRole('button', { name: 'Edit', exact: true }).click();
    await page.getByLabel('Name', { exact: true }).fill('Acme Corporation');
    await page.getByLabel('Contact e-mail').fill('ops@acme.example');
    await page.getByLabel('Billing link').fill('https://pay.acme.example/acme');
    await screenshot(page, 'tenant-edit');
    await page.getByRole('button', { name: 'Save tenant' }).click();
    await page.getByText('Saved Acme Corporation.').waitFor();

    await page.reload();
    await page.getByRole('heading', { name: 'Acme Corporation', level: 1 }).waitFor();
    expect(await page.locator('.page-head code').textContent(), 'the slug shows now that it differs').toBe('acme');
    await page.getByText('ops@acme.example').waitFor();
    await page.getByRole('link', { name: 'https://pay.acme.example/acme' }).waitFor();
    const acme = (await tenants()).find((t) => t.slug === 'acme')!;
    expect([acme.name, acme.contact_email]).toEqual(['Acme Corporation', 'ops@acme.example']);
  });

  it('previews an import: a bad line is shown and nothing is created; a good file creates what the preview showed', async () => {
    const { page } = stack.browser;
    const bad = path.join(files, 'bad.csv');
    writeFileSync(bad, 'slug,name,plan,email,credits\nglobex,Globex,basic,ops@globex.example,500\ninitech,Initech,gold,,\n');
    const before = await tenants();

    await page.goto(`${stack.tollgate.dashboard.split('#')[0]}#/tenants`);
    await page.getByRole('button', { name: 'Import…' }).click();
    await page.getByLabel('File', { exact: true }).setInputFiles(bad);
    const error = page.getByTestId('import-error');
    await error.first().waitFor();
    expect(await error.count()).toBe(1);
    expect(await error.first().textContent()).toMatch(/^Line 3.*gold/);
    expect(await page.getByRole('button', { name: 'Import', exact: true }).isDisabled(), 'a file with a bad line cannot be imported').toBe(true);
    expect(await tenants(), 'the preview created nothing').toEqual(before);
    await screenshot(page, 'import-bad-line');

    const good = path.join(files, 'good.jsonl');
    writeFileSync(
      good,
      [
        JSON.stringify({ slug: 'globex', name: 'Globex', plan: 'basic', email: 'ops@globex.example', credits: 500 }),
        JSON.stringify({ name: 'Initech', plan: 'empty', key: 'sk_live_0123456789abcdefghij', key_name: 'legacy' }),
      ].join('\n'),
    );
    await page.getByLabel('File', { exact: true }).setInputFiles(good);
    const preview = page.getByTestId('import-preview');
    await preview.waitFor();
    const previewed = await preview.locator('tbody tr').evaluateAll((rows) =>
      rows.map((r) => Array.from(r.querySelectorAll('td')).map((c) => (c.textContent ?? '').trim())),
    );
    expect(previewed).toEqual([
      ['1', 'globex', 'Globex', 'basic', 'ops@globex.example', '500', ''],
      ['2', 'initech', 'Initech', 'empty', '', '', 'legacy'],
    ]);
    expect(await tenants(), 'still nothing created').toEqual(before);
    await screenshot(page, 'import-preview');

    await page.getByRole('button', { name: 'Import 2 tenants' }).click();
    await page.getByText('Imported 2 tenants and 1 keys.').waitFor();
    const after = await tenants();
    const added = after.filter((t) => !before.some((b) => b.slug === t.slug));
    expect(added.map((t) => [t.slug, t.name, t.contact_email ?? null])).toEqual([
      ['globex', 'Globex', 'ops@globex.example'],
      ['initech', 'Initech', null],
    ]);
    expect(added.find((t) => t.slug === 'globex')!.balance, "the plan's 10 and the opening 500").toBe(510);
  });

  it('groups repeated denials with a count, first and last seen', async () => {
    const { page } = stack.browser;
    for (let i = 0; i < 5; i++) {
      expect((await callGateway(stack.tollgate.gateway, brokeKey, '/v1/echo')).status).toBe(402);
      expect((await callGateway(stack.tollgate.gateway, brokeKey, '/gold/x')).status).toBe(402);
    }
    const stored = await waitFor(
      async () => {
        const list = await stack.tollgate.call<Denial[]>('denial.list', { tenant: 'broke', limit: 500 });
        const routes = new Set(list.map((d) => d.route));
        return routes.has('/v1') && routes.has('/gold') && list.length >= 6 ? list : null;
      },
      30_000,
      'the denials stored',
    );
    const expected = new Map<string, number>();
    for (const d of stored) expected.set(`${d.code} ${d.route ?? d.path}`, (expected.get(`${d.code} ${d.route ?? d.path}`) ?? 0) + 1);

    await openTenant(page, 'broke');
    const groups = page.getByTestId('denial-group');
    await groups.first().waitFor();
    const shown = await groups.evaluateAll((rows) =>
      rows.map((r) => ({
        count: (r.querySelector('[data-testid="denial-count"]')?.textContent ?? '').replace(/[^\d]/g, ''),
        kind: `${r.querySelector('td:nth-child(3)')?.textContent?.trim()} ${r.querySelector('td:nth-child(4)')?.textContent?.trim()}`,
      })),
    );
    expect(shown).toHaveLength(2);
    expect(new Map(shown.map((g) => [g.kind, Number(g.count)]))).toEqual(expected);
    expect(shown.every((g) => Number(g.count) > 1), 'repeats are folded, not listed').toBe(true);
    await page.getByTestId('denial-groups').scrollIntoViewIfNeeded();
    await screenshot(page, 'denials-grouped');
  });

  it('shows usage held in memory and not yet written as a ledger row', async () => {
    const { page } = stack.browser;
    // The writer checks the interval each time it wakes: from now on it writes 60 s after
    // its last write (at most 2 s ago), so this call stays in memory for the next 58 s.
    await stack.tollgate.call('settings.set', { usage_flush_ms: 60_000 });
    expect((await callGateway(stack.tollgate.gateway, acmeKey)).status).toBe(200);

    await openTenant(page, 'acme');
    const row = page.getByTestId('ledger-unwritten');
    await row.waitFor();
    expect(await row.textContent()).toMatch(/Not yet written: [−-]2 credits/);
    expect(await row.textContent()).toContain('every 60 s');
    await row.scrollIntoViewIfNeeded();
    await screenshot(page, 'ledger-unwritten');
    await stack.tollgate.call('settings.set', { usage_flush_ms: 2000 });
  });

  it('shows strict usage committed to the journal apart from memory, and verify says it waits', async () => {
    const { page } = stack.browser;
    // The last test's batched charge reaches the ledger first, so what follows is strict's alone.
    await waitFor(
      async () => {
        const shown = await stack.tollgate.call<{ tenant: { balance: number } }>('tenant.show', { tenant: 'acme' });
        const newest = (await stack.tollgate.call<{ balance_after: number }[]>('ledger.list', { tenant: 'acme' }))[0];
        return shown.tenant.balance === newest?.balance_after;
      },
      30_000,
      'the batched charge written',
    );
    // Strict commits each charge to the usage journal before answering; the fold into the
    // ledger comes with the next usage write, 60 s after the last.
    await stack.tollgate.call('settings.set', { durability: 'strict', usage_flush_ms: 60_000 });
    try {
      expect((await callGateway(stack.tollgate.gateway, acmeKey)).status).toBe(200);
      const shown = await stack.tollgate.call<{ unfolded_strict_credits: number }>('tenant.show', { tenant: 'acme' });
      expect(shown.unfolded_strict_credits).toBe(2);

      await page.goto(`${stack.tollgate.dashboard.split('#')[0]}#/settings`);
      await page.getByRole('button', { name: 'Verify ledger' }).click();
      const status = page.locator('section[aria-labelledby="verify-title"] [role="status"]');
      await status.waitFor();
      expect(await status.textContent()).toContain('All balances match.');
      const waiting = page.getByText(/strict request\(s\) \(2 credits\)\s+are committed and on their way into the ledger/);
      await waiting.waitFor();
      expect(await waiting.textContent()).toMatch(/^\s*1 strict request/);
      await waiting.scrollIntoViewIfNeeded();
      await screenshot(page, 'settings-unfolded');

      // From another page, so the tenant's page loads afresh (the last test left it open).
      await openTenant(page, 'acme');
      const row = page.getByTestId('ledger-unfolded');
      await row.waitFor();
      expect(await row.textContent()).toMatch(/Committed: [−-]2 credits of strict usage, durable in the usage journal; folded into one ledger entry every 60 s/);
      expect(await page.getByTestId('ledger-unwritten').count(), 'nothing is held only in memory').toBe(0);
      await row.scrollIntoViewIfNeeded();
      await screenshot(page, 'ledger-unfolded');

      // The fold takes the journal's charge into an entry; the open page catches up by itself.
      await stack.tollgate.call('settings.set', { usage_flush_ms: 2000 });
      await waitFor(async () => (await row.count()) === 0, 30_000, 'the committed row gone after the fold, without a reload');
      const newest = page.locator('section[aria-labelledby="ledger-title"] tbody tr').first();
      expect(await newest.locator('td').nth(1).textContent()).toBe('debit');
      expect(await newest.locator('td').nth(3).textContent(), 'the newest entry reaches the balance').toBe('6');
      expect(await page.getByTestId('ledger-unwritten').count()).toBe(0);
    } finally {
      await stack.tollgate.call('settings.set', { durability: 'batched', usage_flush_ms: 2000 });
    }
  });

  it('sets the usage write interval in Settings, and says what retention prunes', async () => {
    const { page } = stack.browser;
    await page.goto(`${stack.tollgate.dashboard.split('#')[0]}#/settings`);
    const field = page.getByLabel('Usage write interval (ms)');
    await field.waitFor();
    expect(await field.inputValue()).toBe('2000');
    await field.fill('5');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await waitFor(async () => (await field.getAttribute('aria-invalid')) === 'true', 5000, 'the field error');
    expect((await stack.tollgate.call<{ usage_flush_ms: number }>('settings.get')).usage_flush_ms, 'refused input changes nothing').toBe(2000);
    await field.fill('500');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved 1 setting.').waitFor();
    expect((await stack.tollgate.call<{ usage_flush_ms: number }>('settings.get')).usage_flush_ms).toBe(500);
    const retention = await page.getByLabel('Retention (days)').getAttribute('aria-describedby');
    const hint = await page.locator(`[id="${retention!.split(' ')[0]}"]`).textContent();
    expect(hint).toContain('per-minute usage');
    await screenshot(page, 'settings-flush');
    await stack.tollgate.call('settings.set', { usage_flush_ms: 2000 });
  });

  it('stores the gateway certificate and key files for the next start, refusing a path that is no file', async () => {
    const { page } = stack.browser;
    await page.goto(`${stack.tollgate.dashboard.split('#')[0]}#/settings`);
    const cert = page.getByLabel('TLS certificate file');
    await cert.waitFor();
    expect(await cert.inputValue(), 'plain HTTP by default').toBe('');
    await cert.fill('/nonexistent/fullchain.pem');
    await page.getByLabel('TLS key file').fill('/nonexistent/privkey.pem');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await waitFor(async () => (await cert.getAttribute('aria-invalid')) === 'true', 5000, 'the field error');
    const described = (await cert.getAttribute('aria-describedby')) ?? '';
    expect(await page.locator(`[id="${described.split(' ').pop()}"]`).textContent()).toContain('is not a file');
    expect((await stack.tollgate.call<{ gateway_tls_cert: string }>('settings.get')).gateway_tls_cert, 'refused input changes nothing').toBe('');

    const dir = mkdtempSync(path.join(tmpdir(), 'tollgate-tls-'));
    try {
      const [chain, key] = [path.join(dir, 'fullchain.pem'), path.join(dir, 'privkey.pem')];
      writeFileSync(chain, 'checked when the gateway starts');
      writeFileSync(key, 'checked when the gateway starts');
      await cert.fill(chain);
      await page.getByLabel('TLS key file').fill(key);
      await page.getByRole('button', { name: 'Save settings' }).click();
      await page.getByText('Saved 2 settings.').waitFor();
      const stored = await stack.tollgate.call<{ gateway_tls_cert: string; gateway_tls_key: string; listening: { gateway_tls: boolean } }>('settings.get');
      expect([stored.gateway_tls_cert, stored.gateway_tls_key]).toEqual([chain, key]);
      expect(stored.listening.gateway_tls, 'the running gateway is unchanged until the next start').toBe(false);
      await screenshot(page, 'settings-tls');
    } finally {
      await stack.tollgate.call('settings.set', { gateway_tls_cert: '', gateway_tls_key: '' });
      rmSync(dir, { recursive: true, force: true });
    }

    // Where Prometheus scrapes without a token, for the next start.
    await page.reload();
    const metrics = page.getByLabel('Metrics listen address');
    await metrics.fill('port 9464');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await waitFor(async () => (await metrics.getAttribute('aria-invalid')) === 'true', 5000, 'the metrics field error');
    await metrics.fill('127.0.0.1:9464');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Saved 1 setting.').waitFor();
    expect((await stack.tollgate.call<{ metrics_listen: string }>('settings.get')).metrics_listen).toBe('127.0.0.1:9464');
    await stack.tollgate.call('settings.set', { metrics_listen: '' });
  });

  it("draws the rate chart in the theme's colours when the stylesheet applies after the chart mounted", async () => {
    const { page } = stack.browser;
    await page.goto(`${stack.tollgate.dashboard.split('#')[0]}#/tenants`);
    await page.getByRole('heading', { name: 'Tenants', level: 1 }).waitFor();
    // As in the desktop app's first launch: the theme is not there when the chart is made.
    const toggle = (disabled: boolean) =>
      page.evaluate((off) => {
        for (const sheet of Array.from(document.styleSheets)) {
          if (Array.from(sheet.cssRules).some((r) => r.cssText.includes('--c-served'))) sheet.disabled = off;
        }
      }, disabled);
    await toggle(true);
    await page.getByRole('link', { name: 'Monitor', exact: true }).first().click();
    const marker = page.locator('.u-legend .u-series', { hasText: '402' }).locator('.u-marker');
    await marker.waitFor();
    const colours = () =>
      marker.evaluate((el) => {
        const probe = document.createElement('span');
        probe.style.color = getComputedStyle(document.documentElement).getPropertyValue('--c-402').trim();
        document.body.append(probe);
        const theme = getComputedStyle(probe).color;
        probe.remove();
        return { drawn: getComputedStyle(el).borderColor, theme };
      });
    // An empty colour means the legend was rebuilt while it was read (a detached marker): read again.
    const first = await waitFor(
      async () => {
        const c = await colours();
        return c.drawn ? c : null;
      },
      5_000,
      'the legend drawn',
    );
    expect(first.drawn, 'drawn grey while the theme is missing').toBe('rgb(136, 136, 136)');
    await toggle(false);
    const final = await waitFor(
      async () => {
        const c = await colours();
        return c.drawn === c.theme && c.drawn !== 'rgb(136, 136, 136)' ? c : null;
      },
      10_000,
      "the chart redrawn in the theme's 402 colour",
    );
    expect(final.drawn).toBe(final.theme);
    await screenshot(page, 'monitor-codes');
  });
});
