/**
 * The real desktop app under test: the debug build of `tollgate-desktop`, launched by
 * tauri-driver (WebKitWebDriver underneath) on the X display the test runs in (Xvfb in CI),
 * on a fresh data directory with OS-chosen ports.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { homedir, tmpdir } from 'node:os';
import path from 'node:path';
import { root } from '../e2e/harness';
import { waitFor } from '../e2e/wait';
import { Session } from './webdriver';

/** Screenshots and figures of the desktop tests. */
export const artifacts = path.join(root, 'artifacts', 'desktop');

/** A running app with a WebDriver session on its window. */
export interface Desktop {
  session: Session;
  dataDir: string;
  gateway: string;
  admin: string;
  /** The app's process (the webview's processes are its children). */
  pid: number;
  /** Ends the session and the app; `keepData` leaves the data directory for a relaunch. */
  stop(options?: { keepData?: boolean }): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function tauriDriver(): string {
  const candidates = [process.env.TAURI_DRIVER, path.join(process.env.CARGO_HOME ?? path.join(homedir(), '.cargo'), 'bin/tauri-driver')];
  return candidates.find((c): c is string => !!c && existsSync(c)) ?? 'tauri-driver';
}

/**
 * Starts tauri-driver, launches the app through it, and waits for the app's endpoint; on a
 * fresh data directory, or on `reuse` (a relaunch).
 */
export async function startDesktop(reuse?: string): Promise<Desktop> {
  if (!process.env.DISPLAY) throw new Error('no DISPLAY: run the desktop tests under Xvfb (make e2e-desktop does)');
  const application = process.env.TOLLGATE_DESKTOP_BIN ?? path.join(root, 'target/debug/tollgate-desktop');
  const dataDir = reuse ?? mkdtempSync(path.join(tmpdir(), 'tollgate-desktop-e2e-'));
  const [port, nativePort] = [await freePort(), await freePort()];
  const driver: ChildProcess = spawn(tauriDriver(), ['--port', String(port), '--native-port', String(nativePort)], {
    env: {
      ...process.env,
      TOLLGATE_DATA_DIR: dataDir,
      TOLLGATE_ADMIN_LISTEN: '127.0.0.1:0',
      TOLLGATE_GATEWAY_LISTEN: '127.0.0.1:0',
      TOLLGATE_LOG: 'warn',
      // The window-state file goes with the data dir, not into the user's config.
      XDG_CONFIG_HOME: path.join(dataDir, 'config'),
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const driverUrl = `http://127.0.0.1:${port}`;
  const abandon = (e: unknown): never => {
    driver.kill('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  };
  // tauri-driver takes a moment to listen: retry the session until it does.
  const session = await waitFor(() => Session.start(driverUrl, application), 30_000, 'a tauri-driver session', 200).catch(abandon);
  const endpoint = await waitFor(
    () => {
      try {
        return JSON.parse(readFileSync(path.join(dataDir, 'serve.json'), 'utf8')) as { admin_url: string; gateway_url: string; pid: number };
      } catch {
        return null;
      }
    },
    30_000,
    'the app publishing its endpoint',
    50,
  ).catch(async (e: unknown) => {
    await session.end();
    return abandon(e);
  });
  return {
    session,
    dataDir,
    gateway: endpoint.gateway_url,
    admin: endpoint.admin_url,
    pid: endpoint.pid,
    async stop(options = {}) {
      await session.end();
      // The app must be gone before its data directory is deleted under it.
      const exited = await waitFor(() => !isRunning(endpoint.pid), 15_000, 'the app exiting', 50).catch(() => false);
      if (!exited) process.kill(endpoint.pid, 'SIGKILL');
      driver.kill('SIGTERM');
      if (!options.keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Whether the process `pid` still runs. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The process and all its descendants. */
function tree(pid: number): number[] {
  const children = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
  return [pid, ...children.flatMap(tree)];
}

/** Resident memory of the app and its webview processes, in MiB, by process name. */
export function residentMemory(pid: number): { total: number; processes: Record<string, number> } {
  const processes: Record<string, number> = {};
  for (const p of tree(pid)) {
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const name = /^Name:\s+(.+)$/m.exec(status)?.[1] ?? String(p);
      const kib = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      processes[name] = (processes[name] ?? 0) + kib / 1024;
    } catch {
      // exited meanwhile
    }
  }
  const total = Object.values(processes).reduce((a, b) => a + b, 0);
  return { total, processes };
}

/**
 * Saves the whole X screen (the real window, as the operator sees it), once the webview
 * has painted what the DOM holds: the X server receives frames a little after the DOM changes.
 */
export async function screenshotWindow(session: Session, name: string): Promise<string> {
  await session.executeAsync('const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));');
  await new Promise((resolve) => setTimeout(resolve, 250));
  mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, `${name}.png`);
  execFileSync('import', ['-window', 'root', file]);
  return file;
}
