/**
 * The operator's loop in the real desktop app (WebKitGTK window, gateway in the same
 * process): create a plan, a tenant with a key, and a route in the window; drive requests
 * through the in-process gateway until a 402; see it in the live monitor; top up from the
 * tenant view; see the next request pass. The CLI talks to the running app meanwhile.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callGateway, root, startUpstream } from '../e2e/harness';
import { waitFor } from '../e2e/wait';
import { artifacts, isRunning, residentMemory, screenshotWindow, startDesktop, type Desktop } from './harness';

let app: Desktop;
let upstream: Awaited<ReturnType<typeof startUpstream>>;

beforeAll(async () => {
  upstream = await startUpstream();
  app = await startDesktop();
});

afterAll(async () => {
  await app?.stop();
  await upstream?.close();
});

describe('the operator in the desktop app', () => {
  it('sets up in the window, sees a 402 arrive, tops up, and sees the next request pass', async () => {
    const s = app.session;
    const nav = async (label: string) => s.click(await s.byText(label, 'nav a'));
    const integer = async (testId: string) => {
      const text = await s.execute<string | null>(
        `return document.querySelector('[data-testid="' + arguments[0] + '"]')?.textContent ?? null;`,
        testId,
      );
      return text === null ? null : Number(text.replace(/[^\d-]/g, '') || '0');
    };

    await s.byText('Monitor', 'nav a', 30_000);
    expect(await s.execute<boolean>('return "__TAURI_INTERNALS__" in window'), 'the page runs in the Tauri webview').toBe(true);
    await waitFor(async () => (await s.text(await s.element('header .stream'))).includes('Live'), 10_000, 'the live feed open');
    await screenshotWindow(s, 'desktop-first-start');
    // At first launch the rate chart once drew every series grey (colours read before the
    // theme applied): the 402 series is drawn in the theme's colour.
    const colours = await waitFor(
      async () => {
        const c = await s.execute<{ drawn: string; theme: string } | null>(`
          const marker = Array.from(document.querySelectorAll('.u-legend .u-series'))
            .find((el) => el.textContent.trim() === '402')?.querySelector('.u-marker');
          if (!marker) return null;
          const probe = document.createElement('span');
          probe.style.color = getComputedStyle(document.documentElement).getPropertyValue('--c-402').trim();
          document.body.append(probe);
          const theme = getComputedStyle(probe).color;
          probe.remove();
          return { drawn: getComputedStyle(marker).borderColor, theme };`);
        return c && c.drawn === c.theme ? c : null;
      },
      10_000,
      'the chart drawn in the theme colours',
    );
    expect(colours.drawn, 'not the grey of a chart drawn before its theme').not.toBe('rgb(136, 136, 136)');

    await nav('Plans');
    await s.click(await s.byText('New plan'));
    await s.fill(await s.byLabel('Name'), 'Basic');
    await s.fill(await s.byLabel('Credits per period'), '3');
    await s.click(await s.byText('Create plan'));
    await s.byText('basic', 'td, code, span');

    await nav('Tenants');
    await s.click(await s.byText('New tenant'));
    await s.fill(await s.byLabel('Name'), 'Acme Corp');
    await s.select(await s.byLabel('Plan'), 'basic');
    await s.click(await s.byText('Create tenant'));
    await waitFor(async () => (await s.execute<string>('return location.hash')) === '#/tenants/acme-corp', 10_000, 'the new tenant opening');

    await s.click(await s.byText('Issue key'));
    const confirm = await s.byText('Issue', 'dialog button', 1500).catch(() => null);
    if (confirm) await s.click(confirm);
    const secret = (await s.text(await s.element('[data-testid="issued-secret"]'))).trim();
    expect(secret, 'the secret is shown once').toMatch(/^tg_live_/);
    await s.click(await s.byText('Done'));

    await nav('Routes');
    await s.click(await s.byText('New route'));
    await s.fill(await s.byLabel('Path prefix'), '/v1');
    await s.fill(await s.byLabel('Upstream URL'), upstream.url);
    await s.fill(await s.byLabel('Cost'), '1');
    await s.click(await s.byText('Create route'));
    await s.byText(upstream.url, 'td, code, span');

    // Spend the 3 credits through the in-process gateway with the monitor open.
    await nav('Monitor');
    let denied: Awaited<ReturnType<typeof callGateway>> | null = null;
    for (let i = 0; i < 10 && !denied; i++) {
      const answer = await callGateway(app.gateway, secret);
      if (answer.status === 402) denied = answer;
      else expect(answer.status, `request ${i + 1} is served`).toBe(200);
    }
    expect(denied?.body.code, 'the credits ran out').toBe('INSUFFICIENT_CREDITS');
    const rowSelector = '[data-testid="event-row"][data-code="INSUFFICIENT_CREDITS"][data-tenant="acme-corp"]';
    const shownAt = Date.now();
    const row = await s.element(rowSelector, 5000);
    console.log(`402 visible in the desktop monitor ${Date.now() - shownAt} ms after the client got it (WebDriver round trips included)`);
    expect(await integer('counter-INSUFFICIENT_CREDITS'), 'counted once').toBe(1);
    expect(await integer('counter-SERVED'), 'after three served calls').toBe(3);
    const shot = await screenshotWindow(s, 'desktop-monitor-402');

    // The tenant view, from the event row; top up there.
    await s.click(row);
    await waitFor(async () => (await s.execute<string>('return location.hash')) === '#/tenants/acme-corp', 5000, 'the tenant opening from the row');
    await waitFor(async () => (await integer('balance')) === 0, 5000, 'the balance at 0');
    await s.click(await s.byText('Top up'));
    await s.fill(await s.byLabel('Amount'), '10');
    await s.fill(await s.byLabel('Note'), 'desktop e2e top-up');
    await s.click(await s.byText('Confirm top-up'));
    await waitFor(async () => (await integer('balance')) === 10, 5000, 'the balance showing the top-up');
    await screenshotWindow(s, 'desktop-tenant');

    // The very next request passes, and the monitor shows it.
    const next = await callGateway(app.gateway, secret);
    expect(next.status, 'the next request passes').toBe(200);
    await nav('Monitor');
    await waitFor(async () => (await integer('counter-SERVED')) === 4, 5000, 'the served request in the monitor');
    await s.element('[data-testid="event-row"][data-status="200"][data-tenant="acme-corp"]', 5000);
    const final = await screenshotWindow(s, 'desktop-monitor-passed');

    // The CLI reaches the running app through its admin API (the app owns the data dir).
    const cli = path.join(root, 'target/debug/tollgate');
    const verify = JSON.parse(execFileSync(cli, ['--data-dir', app.dataDir, '--json', 'verify'], { encoding: 'utf8' })) as { ok: boolean };
    expect(verify.ok, 'balance == sum(ledger), asked from the CLI').toBe(true);

    // Launching the app again on the same data directory shows the running one's window
    // (after a close to the tray, say) instead of failing on the lock.
    const again = execFileSync(process.env.TOLLGATE_DESKTOP_BIN ?? path.join(root, 'target/debug/tollgate-desktop'), [], {
      encoding: 'utf8',
      env: { ...process.env, TOLLGATE_DATA_DIR: app.dataDir, TOLLGATE_LOG: 'warn' },
      timeout: 20_000,
    });
    expect(again, 'the second launch hands over and exits').toContain(`already running on ${app.dataDir}`);
    expect((await callGateway(app.gateway, secret)).status, 'the first app still serves').toBe(200);

    // Idle memory of the app and its webview processes, after the page settles.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const memory = residentMemory(app.pid);
    console.log(`idle memory: ${memory.total.toFixed(0)} MiB`, memory.processes);
    mkdirSync(artifacts, { recursive: true });
    writeFileSync(path.join(artifacts, 'desktop-figures.json'), JSON.stringify({ memory, screenshots: [shot, final] }, null, 2));
    expect(memory.processes['WebKitWebProces'] ?? memory.processes['WebKitWebProcess'], 'the webview runs as a child process').toBeGreaterThan(0);

    // SIGTERM quits like the tray's Quit: the listeners close, every charge is written,
    // the data directory is released; the CLI then opens the database itself.
    process.kill(app.pid, 'SIGTERM');
    await waitFor(async () => !existsSync(path.join(app.dataDir, 'serve.json')), 15_000, 'the app releasing the data dir');
    const detail = JSON.parse(
      execFileSync(cli, ['--data-dir', app.dataDir, '--json', 'tenant', 'show', '--tenant', 'acme-corp'], { encoding: 'utf8' }),
    ) as { tenant: { balance: number } };
    expect(detail.tenant.balance, '3 granted, 3 spent, 10 topped up, 2 spent: all written before exit').toBe(8);
    const after = JSON.parse(execFileSync(cli, ['--data-dir', app.dataDir, '--json', 'verify'], { encoding: 'utf8' })) as { ok: boolean };
    expect(after.ok, 'balance == sum(ledger) after quitting').toBe(true);
  });

  it('remembers the window size across launches', async () => {
    const first = await startDesktop();
    let second: Desktop | null = null;
    try {
      await first.session.byText('Monitor', 'nav a', 30_000);
      await first.session.resize(1000, 700);
      expect(await first.session.rect()).toMatchObject({ width: 1000, height: 700 });
      // The page has been laid out at the new size: the app has seen the resize.
      await waitFor(async () => (await first.session.execute<number>('return window.innerWidth')) === 1000, 5000, 'the page at 1000 px');
      process.kill(first.pid, 'SIGTERM');
      await waitFor(async () => !isRunning(first.pid), 15_000, 'the app quitting');
      const saved = JSON.parse(readFileSync(path.join(first.dataDir, 'config/dev.tollgate.console/.window-state.json'), 'utf8')) as {
        main: { width: number; height: number };
      };
      expect(saved.main, 'the size written on quitting').toMatchObject({ width: 1000, height: 700 });
      await first.stop({ keepData: true });
      second = await startDesktop(first.dataDir);
      await second.session.byText('Monitor', 'nav a', 30_000);
      // On a loaded machine the restored size can land a moment after the first paint.
      const restored = async () => {
        const rect = await second!.session.rect();
        return rect.width === 1000 && rect.height === 700;
      };
      await waitFor(restored, 10_000, 'the size it was left at');
      expect(await second.session.rect(), 'the size it was left at').toMatchObject({ width: 1000, height: 700 });
    } finally {
      await (second ?? first).stop();
    }
  });
});
