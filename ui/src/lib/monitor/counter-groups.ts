import { compareCodes, SERVED, UPSTREAM_ERROR } from './classify';

/** One column of the counter board: the codes a status answers with. */
export interface CounterGroup {
  title: string;
  /** The status class the column filters to (see `statusClass`). */
  status: string;
  keys: string[];
}

const GROUPS: CounterGroup[] = [
  { title: 'Served', status: 'served', keys: [SERVED] },
  { title: '401', status: '401', keys: ['MISSING_API_KEY', 'INVALID_API_KEY', 'API_KEY_REVOKED', 'API_KEY_EXPIRED'] },
  { title: '403', status: '403', keys: ['TENANT_BLOCKED', 'IP_NOT_ALLOWED', 'SCOPE_NOT_GRANTED'] },
  {
    title: '402',
    status: '402',
    keys: [
      'ACCOUNT_SUSPENDED_NONPAYMENT',
      'SUBSCRIPTION_CANCELED',
      'SUBSCRIPTION_EXPIRED',
      'SUBSCRIPTION_PAST_DUE',
      'FEATURE_NOT_IN_PLAN',
      'QUOTA_EXHAUSTED',
      'INSUFFICIENT_CREDITS',
    ],
  },
  { title: '429', status: '429', keys: ['RATE_LIMITED'] },
  { title: 'Other', status: 'other', keys: ['ROUTE_NOT_FOUND', 'UPSTREAM_UNAVAILABLE', 'UPSTREAM_TIMEOUT', UPSTREAM_ERROR] },
];

/**
 * The counter board: every code the gateway can answer with, grouped by status in the order
 * the checks run, so an operator sees zeros as well as counts; codes this dashboard does not
 * know yet (a newer server) are added to "Other" as soon as they are counted.
 */
export function counterGroups(counts: Record<string, number>): CounterGroup[] {
  const known = new Set(GROUPS.flatMap((g) => g.keys));
  const unknown = Object.keys(counts)
    .filter((k) => !known.has(k))
    .sort(compareCodes);
  return GROUPS.map((g) => (g.status === 'other' ? { ...g, keys: [...g.keys, ...unknown] } : { ...g, keys: [...g.keys] }));
}

/** A code as a short readable label: INSUFFICIENT_CREDITS → "insufficient credits". */
export function codeLabel(code: string): string {
  return code === SERVED ? 'served' : code.toLowerCase().replace(/_/g, ' ');
}
