/**
 * The desktop console managing a separate `tollgate serve` process over TLS, in the real
 * window: connect (the certificate's fingerprint pinned, the token in the OS keyring, a
 * Secret Service from scripts/with-keyring.sh), switch every screen to it, create a tenant
 * there, see its 402 in the monitor, top up, see the next request pass; then the server
 * comes back with another certificate and the console refuses it, saying so.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callGateway, root, startTollgate, startUpstream, type Tollgate } from '../e2e/harness';
import { waitFor } from '../e2e/wait';
import { screenshotWindow, startDesktop, type Desktop } from './harness';

const cli = path.join(root, 'target/debug/tollgate');
let app: Desktop;
let server: Tollgate;
let upstream: Awaited<ReturnType<typeof startUpstream>>;
let serverDir: string;

/** Runs the CLI on the remote server's data directory (it reaches the server through its pinned TLS). */
const remoteCli = (...args: string[]) =>
  JSON.parse(execFileSync(cli, ['--data-dir', serverDir, '--json', ...args], { encoding: 'utf8' })) as Record<string, unknown>;

beforeAll(async () => {
  upstream = await startUpstream();
  serverDir = execFileSync('mktemp', ['-d'], { encoding: 'utf8' }).trim();
  server = await startTollgate({ dataDir: serverDir, args: ['--admin-tls', 'self-signed'] });
  app = await startDesktop();
});

afterAll(async () => {
  await app?.stop();
  await server?.stop();
  await upstream?.close();
  if (serverDir) rmSync(serverDir, { recursive: true, force: true });
});

describe('the desktop console on a remote server', () => {
  it('connects over pinned TLS, manages the server, and refuses it once its certificate changed', async () => {
    const s = app.session;
    const nav = async (label: string) => s.click(await s.byText(label, 'nav a'));
    const body = () => s.execute<string>('return document.body.innerText');
    expect(server.admin, 'the server speaks TLS').toMatch(/^https:\/\//);
    expect(server.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    remoteCli('plan', 'create', '--name', 'Basic', '--credits', '0');
    remoteCli('route', 'create', '--path', '/v1', '--upstream', upstream.url, '--cost', '1');

    // Settings → Connections: connect with the server's token.
    await s.byText('Monitor', 'nav a', 30_000);
    await nav('Settings');
    await s.fill(await s.byLabel('Name'), 'production');
    await s.fill(await s.byLabel('Admin URL'), server.admin);
    await s.fill(await s.byLabel('Admin token'), server.token);
    await s.click(await s.byText('Connect'));
    await waitFor(async () => (await body()).includes(server.fingerprint!), 10_000, 'the pinned fingerprint listed');
    const saved = readFileSync(path.join(app.dataDir, 'connections.json'), 'utf8');
    expect(saved, 'the connection is kept').toContain(server.fingerprint!);
    expect(saved, 'but never its token').not.toContain(server.token);
    await screenshotWindow(s, 'desktop-connections');

    // "Use" switches every screen (the token is read back from the keyring).
    const use = await s.execute<unknown>(
      `return [...document.querySelectorAll('[data-testid="connection"]')].find((r) => r.textContent.includes('production'))?.querySelector('button:not(.danger)') ?? null;`,
    );
    await s.click(use as never);
    await s.element('[data-testid="remote-connection"]', 15_000);
    expect(await s.text(await s.element('[data-testid="remote-connection"]'))).toBe('on production');
    // Settings are now the server's: the window's own (closing to the tray) is not among them.
    await nav('Settings');
    await s.byText('Alerts', 'h2');
    expect(await body(), 'no desktop-only setting on a remote server').not.toContain('Closing the window');

    await nav('Tenants');
    await s.click(await s.byText('New tenant'));
    await s.fill(await s.byLabel('Name'), 'Remote Co');
    await s.select(await s.byLabel('Plan'), 'basic');
    await s.click(await s.byText('Create tenant'));
    await waitFor(async () => (await s.execute<string>('return location.hash')) === '#/tenants/remote-co', 10_000, 'the new tenant opening');
    expect((remoteCli('tenant', 'show', '--tenant', 'remote-co').tenant as { slug: string }).slug, 'created on the remote server').toBe('remote-co');
    await s.click(await s.byText('Issue key'));
    const confirm = await s.byText('Issue', 'dialog button', 1500).catch(() => null);
    if (confirm) await s.click(confirm);
    const secret = (await s.text(await s.element('[data-testid="issued-secret"]'))).trim();
    await s.click(await s.byText('Done'));

    // The customer's 402 on the remote gateway shows in this window's monitor.
    await nav('Monitor');
    await waitFor(async () => (await s.text(await s.element('header .stream'))).includes('Live'), 10_000, 'the remote feed open');
    const denied = await callGateway(server.gateway, secret);
    expect(denied.status).toBe(402);
    const row = await s.element('[data-testid="event-row"][data-code="INSUFFICIENT_CREDITS"][data-tenant="remote-co"]', 10_000);
    await screenshotWindow(s, 'desktop-remote-monitor-402');
    await s.click(row);
    await waitFor(async () => (await s.execute<string>('return location.hash')) === '#/tenants/remote-co', 5000, 'the tenant from the row');
    await s.click(await s.byText('Top up'));
    await s.fill(await s.byLabel('Amount'), '10');
    await s.fill(await s.byLabel('Note'), 'remote top-up from the desktop');
    await s.click(await s.byText('Confirm top-up'));
    await waitFor(async () => (await body()).includes('remote top-up from the desktop'), 10_000, 'the top-up in the ledger');
    expect((await callGateway(server.gateway, secret)).status, 'the next request passes').toBe(200);
    expect((remoteCli('verify') as { ok: boolean }).ok, 'balance == sum(ledger) on the server').toBe(true);

    // The server restarts (same address, same certificate): the monitor's feed reopens by
    // itself and says how long it was down.
    const address = server.admin.replace('https://', '');
    const pinned = server.fingerprint!;
    await nav('Monitor');
    await waitFor(async () => (await s.text(await s.element('header .stream'))).includes('Live'), 10_000, 'the remote feed open');
    await server.stop();
    await waitFor(async () => !(await s.text(await s.element('header .stream'))).includes('Live'), 10_000, 'the drop noticed');
    server = await startTollgate({ dataDir: serverDir, adminListen: address, args: ['--admin-tls', 'self-signed'] });
    expect(server.fingerprint, 'the same certificate after a restart').toBe(pinned);
    await waitFor(async () => (await body()).includes('The live feed from this server was down for'), 15_000, 'the gap reported');
    await waitFor(async () => (await s.text(await s.element('header .stream'))).includes('Live'), 10_000, 'the feed open again');
    expect((await callGateway(server.gateway, secret)).status).toBe(200);
    await s.element('[data-testid="event-row"][data-status="200"][data-tenant="remote-co"]', 10_000);
    await screenshotWindow(s, 'desktop-remote-feed-gap');

    // The server comes back on the same address with another certificate: refused, and said.
    await server.stop();
    rmSync(path.join(serverDir, 'admin-tls-cert.pem'));
    rmSync(path.join(serverDir, 'admin-tls-key.pem'));
    server = await startTollgate({ dataDir: serverDir, adminListen: address, args: ['--admin-tls', 'self-signed'] });
    expect(server.fingerprint).not.toBe(pinned);
    await nav('Tenants');
    await waitFor(async () => (await body()).includes('certificate changed'), 15_000, 'the changed certificate refused');
    const text = await body();
    expect(text, 'both fingerprints are named').toContain(pinned);
    expect(text).toContain(server.fingerprint!);
    await screenshotWindow(s, 'desktop-certificate-changed');
  });
});
