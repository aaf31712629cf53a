import { formatCredits } from '$lib/format/credits';
import { formatDate } from '$lib/format/time';

/** One fact of a decision as the monitor shows it: `balance 0`, `needs search`. */
export interface FactItem {
  label: string;
  value: string;
}

function text(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number') return Number.isInteger(value) ? formatCredits(value) : String(value);
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return JSON.stringify(value);
}

/** The facts the operator looks for first, in the order they explain a denial. */
const ORDER = ['balance', 'cost', 'plan', 'required_feature', 'required_scope', 'period_end', 'retry_after', 'quota', 'used'];

/**
 * The facts of a problem (balance, cost, plan, required_feature, period_end, retry_after …)
 * as short label/value pairs; served requests fall back to the event's own cost and balance.
 * Fields already in their own column (tenant, code, request id, link) are left out.
 */
export function describeFacts(
  facts: Record<string, unknown> | null | undefined,
  fallback: { cost?: number | null; balance?: number | null } = {},
): FactItem[] {
  const source: Record<string, unknown> = { ...(facts ?? {}) };
  if (source.balance === undefined && fallback.balance !== undefined && fallback.balance !== null) source.balance = fallback.balance;
  if (source.cost === undefined && fallback.cost !== undefined && fallback.cost !== null && fallback.cost !== 0) source.cost = fallback.cost;
  const skip = new Set(['tenant', 'code', 'request_id', 'link', 'type', 'title', 'status', 'detail', 'instance']);
  const keys = Object.keys(source)
    .filter((k) => !skip.has(k))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const items: FactItem[] = [];
  for (const key of keys) {
    const raw = source[key];
    let value = text(raw);
    if (value === null) continue;
    let label = key.replace(/_/g, ' ');
    if (key === 'required_feature') label = 'needs';
    if (key === 'required_scope') label = 'scope';
    if (key === 'period_end' && typeof raw === 'string') value = formatDate(raw);
    if (key === 'retry_after') value = `${value} s`;
    items.push({ label, value });
  }
  return items;
}

function rank(key: string): number {
  const index = ORDER.indexOf(key);
  return index < 0 ? ORDER.length : index;
}
