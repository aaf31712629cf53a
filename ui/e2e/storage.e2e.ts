/**
 * A real full disk: `tollgate serve` keeps its data directory on a small tmpfs that the test
 * fills to the last byte. The dashboard must say so loudly on every screen (live, and on a
 * page opened while it fails) and stop saying so once the space is back. Mounting needs
 * root, as CI runs; elsewhere the test is skipped.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot, startTollgate, type Tollgate } from './harness';
import { waitFor } from './wait';

const root = process.getuid?.() === 0;
if (!root) console.warn('skipped: mounting a tmpfs for a real full disk needs root (CI runs as root)');

interface StorageStatus {
  failing: boolean;
  since?: string | null;
  error?: string | null;
}

let mountPoint = '';
let tollgate: Tollgate;
let browser: Awaited<ReturnType<typeof launchBrowser>>;

/** Takes every free byte of the tmpfs, so the next write that needs space fails with ENOSPC. */
function fill(file: string): void {
  const fd = openSync(file, 'a');
  const block = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, block);
  } catch {
    // ENOSPC: now the last partial block, byte by byte.
  }
  const byte = Buffer.alloc(1);
  try {
    for (;;) writeSync(fd, byte);
  } catch {
    // Full.
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!root)('a full disk', () => {
  beforeAll(async () => {
    mountPoint = mkdtempSync(path.join(tmpdir(), 'tollgate-small-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0700', 'tmpfs', mountPoint]);
    tollgate = await startTollgate({ dataDir: path.join(mountPoint, 'data') });
    browser = await launchBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    await tollgate?.stop();
    if (mountPoint) {
      execFileSync('umount', ['-l', mountPoint]);
      rmdirSync(mountPoint);
    }
  });

  it('puts a banner on every screen while storage fails, and takes it away when it is back', async () => {
    const { page } = browser;
    const banner = page.getByTestId('storage-banner');
    await tollgate.call('demo');
    await page.goto(tollgate.dashboard);
    await page.locator('[data-testid="event-row"]').first().waitFor({ timeout: 10_000 });
    expect(await banner.count(), 'no banner while storage is fine').toBe(0);

    const filler = path.join(mountPoint, 'filler');
    fill(filler);
    // The demo's traffic or a console write meets the full disk, whichever comes first.
    const [tenant] = await tollgate.call<{ slug: string }[]>('tenant.list');
    await waitFor(
      async () => {
        if ((await tollgate.call<StorageStatus>('storage.status')).failing) return true;
        try {
          await tollgate.call('credits.topup', { tenant: tenant.slug, amount: 1, idempotency_key: `fill-${Date.now()}-${Math.random()}` });
        } catch {
          // Refused by the full disk: storage.status says so on the next look.
        }
        return false;
      },
      20_000,
      'storage reported failing',
    );
    const status = await tollgate.call<StorageStatus>('storage.status');
    expect(status.error, 'the database says why').toBeTruthy();
    await expect(tollgate.call('credits.topup', { tenant: tenant.slug, amount: 1, idempotency_key: 'while-failing' })).rejects.toThrow(
      /503.*STORAGE_UNAVAILABLE/,
    );

    // Live, on the screen that was open.
    await banner.waitFor({ timeout: 5_000 });
    expect(await banner.getAttribute('role')).toBe('alert');
    const text = await banner.innerText();
    expect(text).toMatch(/storage is failing/i);
    expect(text).toContain(status.error!);
    expect(text).toContain('Console changes are refused; strict requests answer 503; batched charges are kept in memory');
    expect(await banner.getByRole('button').count(), 'not dismissible').toBe(0);
    await screenshot(page, 'storage-failing');

    // On every screen, and on a page opened while storage already fails.
    await page.goto(`${new URL(tollgate.dashboard).origin}/#/tenants`);
    await page.reload();
    await banner.waitFor({ timeout: 5_000 });
    await page.locator('a[href="#/settings"]').click();
    expect(await banner.isVisible()).toBe(true);

    // Space back: the writer gets through, and the banner goes by itself.
    rmSync(filler);
    await banner.waitFor({ state: 'detached', timeout: 15_000 });
    expect((await tollgate.call<StorageStatus>('storage.status')).failing).toBe(false);
  });
});
