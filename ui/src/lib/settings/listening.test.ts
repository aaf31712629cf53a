import { describe, expect, it } from 'vitest';
import type { SettingsReport } from '$lib/backend';
import { listenHint, listenRows } from './listening';

const stored = { gateway_listen: '127.0.0.1:8402', admin_listen: '127.0.0.1:8401', metrics_listen: '', invalid: [] } as unknown as SettingsReport;

describe('listenRows', () => {
  it('shows where the server listens and marks stored values waiting for a restart', () => {
    const report = {
      ...stored,
      listening: {
        gateway_listen: '127.0.0.1:39001',
        gateway_tls: false,
        admin_listen: '127.0.0.1:8401',
        dashboard_url: 'http://127.0.0.1:8401',
        metrics_url: 'http://127.0.0.1:8401/metrics',
        metrics_listen: null,
      },
    };
    expect(listenRows(report)).toEqual([
      { label: 'Gateway', now: '127.0.0.1:39001', stored: '127.0.0.1:8402', pending: true },
      { label: 'Admin API', now: '127.0.0.1:8401', stored: '127.0.0.1:8401', pending: false },
      { label: 'Dashboard', now: 'http://127.0.0.1:8401', stored: null, pending: false },
      { label: 'Metrics', now: 'http://127.0.0.1:8401/metrics (admin token required)', stored: '', pending: false },
    ]);
  });

  it('shows a separate metrics address, which needs no token, and a gateway serving HTTPS', () => {
    const report = {
      ...stored,
      metrics_listen: '127.0.0.1:9464',
      listening: {
        gateway_listen: '127.0.0.1:8402',
        gateway_tls: true,
        admin_listen: '127.0.0.1:8401',
        dashboard_url: 'http://127.0.0.1:8401',
        metrics_url: 'http://127.0.0.1:9464/metrics',
        metrics_listen: '127.0.0.1:9464',
      },
    };
    expect(listenRows(report)[3]).toEqual({ label: 'Metrics', now: 'http://127.0.0.1:9464/metrics', stored: '127.0.0.1:9464', pending: false });
    expect(listenRows(report)[0].now, 'and says when the gateway serves HTTPS').toBe('127.0.0.1:8402, HTTPS (HTTP/2 and HTTP/1.1)');
  });

  it('shows nothing when no server runs', () => {
    expect(listenRows({ ...stored, listening: null })).toEqual([]);
  });

  it('hints that a differing stored value is for the next start', () => {
    expect(listenHint('127.0.0.1:8402', '127.0.0.1:8402', 'usual')).toBe('usual');
    expect(listenHint('127.0.0.1:8402', undefined, 'usual')).toBe('usual');
    expect(listenHint('127.0.0.1:8402', '127.0.0.1:39001', 'usual')).toContain('used at the next start');
  });
});
