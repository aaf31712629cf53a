/**
 * Who acts in the audit log for what this browser tab does: `dashboard:<browser>-<session>`,
 * e.g. `dashboard:firefox-3f9a2c1b`. The session is a random id kept for the tab's life
 * (session storage), so two operators, or two tabs, tell apart in the log.
 */
const KEY = 'tollgate.session';

/** The browser family from a user agent string (the engines' own brands first). */
export function browserFamily(userAgent: string): string {
  const ua = userAgent.toLowerCase();
  if (ua.includes('edg/')) return 'edge';
  if (ua.includes('opr/') || ua.includes('opera')) return 'opera';
  if (ua.includes('firefox/')) return 'firefox';
  if (ua.includes('headlesschrome/')) return 'chrome-headless';
  if (ua.includes('chrome/') || ua.includes('chromium/')) return 'chrome';
  if (ua.includes('safari/')) return 'safari';
  return 'browser';
}

/** The actor for `userAgent` in session `session`. */
export function dashboardActor(userAgent: string, session: string): string {
  return `dashboard:${browserFamily(userAgent)}-${session}`;
}

/** This tab's session id: 8 hex digits, made once per tab. */
export function sessionId(storage: Pick<Storage, 'getItem' | 'setItem'> = sessionStorage): string {
  const stored = storage.getItem(KEY);
  if (stored && /^[0-9a-f]{8}$/.test(stored)) return stored;
  const bytes = crypto.getRandomValues(new Uint8Array(4));
  const made = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  storage.setItem(KEY, made);
  return made;
}

/** The actor for this tab. */
export function tabActor(): string {
  return dashboardActor(navigator.userAgent, sessionId());
}
