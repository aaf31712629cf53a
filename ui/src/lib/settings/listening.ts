import type { SettingsReport } from '$lib/backend';

/** One address the server listens on now, beside the stored setting for it. */
export interface ListenRow {
  label: string;
  /** Where it listens now (an address, or the dashboard's URL). */
  now: string;
  /** The stored setting, when there is one for this row. */
  stored: string | null;
  /** The stored value differs from where it listens: it applies at the next start. */
  pending: boolean;
}

/** Where the running server listens (none when no server answers, e.g. a CLI run). */
export function listenRows(report: SettingsReport): ListenRow[] {
  const l = report.listening;
  if (!l) return [];
  return [
    {
      label: 'Gateway',
      now: l.gateway_tls ? `${l.gateway_listen}, HTTPS (HTTP/2 and HTTP/1.1)` : l.gateway_listen,
      stored: report.gateway_listen,
      pending: l.gateway_listen !== report.gateway_listen,
    },
    { label: 'Admin API', now: l.admin_listen, stored: report.admin_listen, pending: l.admin_listen !== report.admin_listen },
    { label: 'Dashboard', now: l.dashboard_url, stored: null, pending: false },
    metricsRow(report),
  ];
}

/**
 * Where Prometheus scrapes: its own address (no token) when one was given, else the admin
 * API's `/metrics` (with the admin token). The stored `metrics_listen` is empty when off.
 */
function metricsRow(report: SettingsReport): ListenRow {
  const l = report.listening!;
  const now = l.metrics_listen ? l.metrics_url : `${l.metrics_url} (admin token required)`;
  const stored = report.metrics_listen ?? '';
  return { label: 'Metrics', now, stored, pending: (l.metrics_listen ?? '') !== stored };
}

/** The hint under a listen-address field: says when the stored value waits for a restart. */
export function listenHint(stored: string, now: string | undefined, usual: string): string {
  if (now === undefined || now === stored) return usual;
  return `Listening on ${now} now (given at start); this value is used at the next start.`;
}
