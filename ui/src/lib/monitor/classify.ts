// How the monitor groups gateway decisions. Kept apart from the screens so counters, the
// rate chart, filters and row styling all agree on what "served" and "denied" mean.
import type { GatewayEvent } from '$lib/backend';

/** Counter key for requests the upstream answered (any status without a Tollgate code). */
export const SERVED = 'SERVED';
/** Counter key for upstream 5xx answers passed through without a Tollgate code. */
export const UPSTREAM_ERROR = 'UPSTREAM_ERROR';

/** The facts of a decision the monitor needs; a GatewayEvent satisfies it. */
export type Decision = Pick<GatewayEvent, 'status' | 'code'>;

/**
 * The counter an event belongs to: its Tollgate code when it has one, otherwise SERVED, or
 * UPSTREAM_ERROR when the upstream itself failed (served by the gateway but not a success).
 */
export function counterKey(event: Decision): string {
  if (event.code) return event.code;
  return event.status >= 500 ? UPSTREAM_ERROR : SERVED;
}

/** A Tollgate refusal (it carries a code); upstream answers are never denials. */
export function isDenial(event: Decision): boolean {
  return Boolean(event.code);
}

/** The rate chart's series, one per status class an operator acts on differently. */
export const STATUS_CLASSES = ['served', '401', '402', '403', '429', 'other'] as const;
/** One of the rate chart's series. */
export type StatusClass = (typeof STATUS_CLASSES)[number];

/**
 * Which rate series an event counts in: 401/402/403/429 are the policy's answers, `served`
 * is everything that reached the upstream with a non-5xx result, `other` the rest (404
 * ROUTE_NOT_FOUND, 5xx).
 */
export function statusClass(event: Decision): StatusClass {
  if (event.code) {
    switch (event.status) {
      case 401:
        return '401';
      case 402:
        return '402';
      case 403:
        return '403';
      case 429:
        return '429';
      default:
        return 'other';
    }
  }
  return event.status >= 500 ? 'other' : 'served';
}

/** Where each code's checks run in the gateway's contract order, for a stable counter order. */
const CODE_ORDER = [
  SERVED,
  'MISSING_API_KEY',
  'INVALID_API_KEY',
  'API_KEY_REVOKED',
  'API_KEY_EXPIRED',
  'TENANT_BLOCKED',
  'IP_NOT_ALLOWED',
  'SCOPE_NOT_GRANTED',
  'ACCOUNT_SUSPENDED_NONPAYMENT',
  'SUBSCRIPTION_CANCELED',
  'SUBSCRIPTION_EXPIRED',
  'SUBSCRIPTION_PAST_DUE',
  'FEATURE_NOT_IN_PLAN',
  'RATE_LIMITED',
  'QUOTA_EXHAUSTED',
  'INSUFFICIENT_CREDITS',
  'ROUTE_NOT_FOUND',
  'UPSTREAM_UNAVAILABLE',
  'UPSTREAM_TIMEOUT',
  UPSTREAM_ERROR,
];

/** Sorts counter keys in the order the gateway checks them; unknown codes go last, by name. */
export function compareCodes(a: string, b: string): number {
  const ia = CODE_ORDER.indexOf(a);
  const ib = CODE_ORDER.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0) return -1;
  if (ib >= 0) return 1;
  return a.localeCompare(b);
}

/** Every code the gateway answers with, for the code filter before any has been seen. */
export const KNOWN_CODES: readonly string[] = CODE_ORDER.filter((c) => c !== SERVED && c !== UPSTREAM_ERROR);
