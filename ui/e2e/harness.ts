/**
 * The real parts an end-to-end test needs: a `tollgate serve` on a temporary data dir
 * (ports chosen by the OS), a fixed-response upstream on 127.0.0.1, and Debian's chromium
 * driven by playwright-core. Nothing is mocked.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const root = path.resolve(here, '../..');
/** Where screenshots and figures go (gitignored, kept by CI as artifacts). */
export const artifacts = path.join(root, 'artifacts', 'ui');

/** A running `tollgate serve`. */
export interface Tollgate {
  /** The admin API's base URL. */
  admin: string;
  /** The gateway's base URL. */
  gateway: string;
  /** The URL a person opens (`tollgate dashboard-url`: serve prints it only to a terminal). */
  dashboard: string;
  token: string;
  /** The admin certificate's SHA-256 fingerprint `serve` printed (with `--admin-tls`). */
  fingerprint: string | null;
  /** Runs a console command through the admin API. */
  call<T = unknown>(command: string, input?: unknown): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts `tollgate serve` (TOLLGATE_BIN, default the debug build) on a fresh data dir, or on
 * `dataDir` when given (which the caller then owns and removes); `adminListen` (default any
 * loopback port) and `args` (e.g. `--admin-tls self-signed`) go to `serve`.
 */
export async function startTollgate(options: { dataDir?: string; adminListen?: string; args?: string[] } = {}): Promise<Tollgate> {
  const bin = process.env.TOLLGATE_BIN ?? path.join(root, 'target/debug/tollgate');
  const dataDir = options.dataDir ?? mkdtempSync(path.join(tmpdir(), 'tollgate-e2e-'));
  const listen = ['--admin-listen', options.adminListen ?? '127.0.0.1:0', '--gateway-listen', '127.0.0.1:0'];
  const child = spawn(
    bin,
    ['--data-dir', dataDir, 'serve', ...listen, '--ui-dir', path.join(root, 'ui/dist'), ...(options.args ?? [])],
    { env: { ...process.env, TOLLGATE_LOG: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const lines = new Promise<{ admin: string; gateway: string }>((resolve, reject) => {
    const found: Record<string, string> = {};
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const [key, prefix] of [
        ['admin', 'Tollgate admin API listening on '],
        ['gateway', 'Tollgate gateway listening on '],
      ]) {
        const line = output.split('\n').find((l) => l.startsWith(prefix));
        if (line) found[key] = line.slice(prefix.length).trim();
      }
      if (found.admin && found.gateway) resolve(found as never);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`tollgate serve exited with ${code}:\n${output}`)));
    setTimeout(() => reject(new Error(`tollgate serve did not print its URLs:\n${output}`)), 30_000);
  });
  const urls = await lines;
  const dashboard = await new Promise<string>((resolve, reject) =>
    execFile(bin, ['--data-dir', dataDir, 'dashboard-url'], { timeout: 10_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`tollgate dashboard-url failed: ${stderr || String(error)}`)) : resolve(stdout.trim()),
    ),
  );
  if (output.includes('#token=')) throw new Error(`tollgate serve printed the admin token to a pipe:\n${output}`);
  const token = new URL(dashboard).hash.replace('#token=', '');
  const fingerprint = /Admin API certificate SHA-256 fingerprint: (\S+)/.exec(output)?.[1] ?? null;
  return {
    ...urls,
    dashboard,
    token,
    fingerprint,
    async call<T>(command: string, input: unknown = {}): Promise<T> {
      const response = await fetch(`${urls.admin}/api/${command}`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: JSON.stringify(input),
      });
      const body = (await response.json()) as T;
      if (!response.ok) throw new Error(`${command}: ${response.status} ${JSON.stringify(body)}`);
      return body;
    },
    async stop() {
      await stopProcess(child);
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}

/** A fixed-response upstream on 127.0.0.1; resolves to its base URL and a closer. */
export async function startUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify({ ok: true, path: request.url }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Debian's chromium, headless, with a fresh profile and no background networking. */
export async function launchBrowser(): Promise<{ context: BrowserContext; page: Page; close(): Promise<void> }> {
  const profile = mkdtempSync(path.join(tmpdir(), 'tollgate-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
      '--disable-quic',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot as `artifacts/ui/<name>.png` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Sends one request through the gateway with `key`; returns the status and JSON body. */
export async function callGateway(gateway: string, key: string, route = '/v1/echo'): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway}${route}`, { headers: { Authorization: `Bearer ${key}` } });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, body };
}

/** What one test file shares: a real upstream, a `tollgate serve` and a browser. */
export interface Stack {
  upstream: Awaited<ReturnType<typeof startUpstream>>;
  tollgate: Tollgate;
  browser: Awaited<ReturnType<typeof launchBrowser>>;
}

/**
 * Starts the file's stack before its tests and stops it after them. The object returned is
 * filled in once the file's first `beforeAll` has run, so tests and later hooks read from it.
 */
export function useStack(): Stack {
  const stack = {} as Stack;
  beforeAll(async () => {
    stack.upstream = await startUpstream();
    stack.tollgate = await startTollgate();
    stack.browser = await launchBrowser();
  });
  afterAll(async () => {
    await stack.browser?.close();
    await stack.tollgate?.stop();
    await stack.upstream?.close();
  });
  return stack;
}
