import { describe, expect, it } from 'vitest';
import { browserFamily, dashboardActor, sessionId } from './actor';

describe('the dashboard actor', () => {
  it('names the browser family', () => {
    const firefox = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
    const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    const edge = `${chrome} Edg/131.0.0.0`;
    const safari = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15';
    expect([firefox, chrome, edge, safari, 'curl/8'].map(browserFamily)).toEqual([
      'firefox',
      'chrome',
      'edge',
      'safari',
      'browser',
    ]);
    expect(dashboardActor(firefox, '3f9a2c1b')).toBe('dashboard:firefox-3f9a2c1b');
  });

  it('keeps one session id per tab', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const first = sessionId(storage);
    expect(first).toMatch(/^[0-9a-f]{8}$/);
    expect(sessionId(storage)).toBe(first);
    store.clear();
    expect(sessionId(storage)).not.toBe('');
  });
});
