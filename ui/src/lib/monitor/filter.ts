import type { GatewayEvent } from '$lib/backend';
import { isDenial, statusClass, counterKey } from './classify';

/** What the operator narrowed the monitor to. Empty strings mean "any". */
export interface MonitorFilter {
  deniedOnly: boolean;
  /** A status class: `served`, `401`, `402`, `403`, `429` or `other`. */
  status: string;
  /** A counter key: a code, SERVED or UPSTREAM_ERROR. */
  code: string;
  /** A tenant slug, matched exactly. */
  tenant: string;
  /** Free text, matched case-insensitively against tenant, key, route, path, code and request id. */
  text: string;
}

/** The filter that shows everything. */
export function emptyFilter(): MonitorFilter {
  return { deniedOnly: false, status: '', code: '', tenant: '', text: '' };
}

/** Whether the filter hides anything, so the list can skip filtering in the common case. */
export function isFilterActive(filter: MonitorFilter): boolean {
  return filter.deniedOnly || filter.status !== '' || filter.code !== '' || filter.tenant !== '' || filter.text.trim() !== '';
}

/** Whether `event` passes every part of `filter`. */
export function matchesFilter(event: GatewayEvent, filter: MonitorFilter): boolean {
  if (filter.deniedOnly && !isDenial(event)) return false;
  if (filter.status && statusClass(event) !== filter.status) return false;
  if (filter.code && counterKey(event) !== filter.code) return false;
  if (filter.tenant && event.tenant !== filter.tenant) return false;
  const text = filter.text.trim().toLowerCase();
  if (text) {
    const haystack = [event.tenant, event.key_prefix, event.route, event.path, event.code, event.request_id, event.method, String(event.status)];
    if (!haystack.some((value) => value != null && value.toLowerCase().includes(text))) return false;
  }
  return true;
}
