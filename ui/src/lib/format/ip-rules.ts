// Address rules (CIDR allow and deny lists) as one short line for tables and detail views,
// and as the text a form field edits.

/** "allow 10.0.0.0/8, 2001:db8::/32 · deny 10.0.0.5/32", or "—" for no rules. */
export function formatIpRules(allow: readonly string[], deny: readonly string[]): string {
  const parts: string[] = [];
  if (allow.length) parts.push(`allow ${allow.join(', ')}`);
  if (deny.length) parts.push(`deny ${deny.join(', ')}`);
  return parts.length ? parts.join(' · ') : '—';
}

/** A list as a form field shows it: one entry per line. */
export function ipListText(list: readonly string[] | undefined): string {
  return (list ?? []).join('\n');
}

/** Whether the entries typed (`parsed`) differ from the stored list (order counts). */
export function ipListChanged(parsed: readonly string[], stored: readonly string[]): boolean {
  return parsed.join(',') !== stored.join(',');
}
