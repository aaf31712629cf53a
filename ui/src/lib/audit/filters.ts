import type { AuditEntry, CommandName } from '$lib/backend';

/**
 * The audit log's filters as the page holds them (empty text means "any"), turned into
 * `audit.list`'s input and into a test for entries arriving live, with the same rules the
 * server applies: an actor matches whole (`cli:alice`) or by kind (`cli`), an action whole
 * (`credits.topup`) or by group (`credits`).
 */
export interface AuditFilters {
  tenant: string;
  actor: string;
  action: string;
  since: SinceWindow;
}

export type SinceWindow = '' | '1h' | '24h' | '7d' | '30d';

export const SINCE_WINDOWS: { value: SinceWindow; label: string }[] = [
  { value: '', label: 'Any time' },
  { value: '1h', label: 'Last hour' },
  { value: '24h', label: 'Last 24 hours' },
  { value: '7d', label: 'Last 7 days' },
  { value: '30d', label: 'Last 30 days' },
];

const WINDOW_MS: Record<Exclude<SinceWindow, ''>, number> = {
  '1h': 3600_000,
  '24h': 86400_000,
  '7d': 7 * 86400_000,
  '30d': 30 * 86400_000,
};

/** The kinds of actor the console records. */
export const ACTOR_KINDS: { value: string; label: string }[] = [
  { value: 'cli', label: 'Command line (any user)' },
  { value: 'dashboard', label: 'Dashboard (any browser)' },
  { value: 'desktop', label: 'Desktop app (any user)' },
  { value: 'admin-api', label: 'Admin API without a name' },
  { value: 'demo', label: 'Demo data' },
];

/** The commands that change something, hence appear in the log, grouped as the CLI groups them. */
const WRITE_COMMANDS = [
  'credits.adjust',
  'credits.refund',
  'credits.topup',
  'key.issue',
  'key.revoke',
  'key.rotate',
  'plan.archive',
  'plan.create',
  'plan.update',
  'route.create',
  'route.delete',
  'route.update',
  'settings.set',
  'subscription.change-plan',
  'subscription.renew',
  'subscription.set-status',
  'tenant.block',
  'tenant.create',
  'tenant.import',
  'tenant.resume',
  'tenant.suspend',
  'tenant.update',
] as const satisfies readonly CommandName[];

/** Action choices: each group ("credits: any") followed by its commands. */
export function actionGroups(): { group: string; commands: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const name of WRITE_COMMANDS) {
    const group = name.split('.')[0];
    groups.set(group, [...(groups.get(group) ?? []), name]);
  }
  return [...groups].map(([group, commands]) => ({ group, commands }));
}

export const NO_FILTERS: AuditFilters = { tenant: '', actor: '', action: '', since: '' };

/** The filters as `audit.list` takes them, with `since` resolved against `now`. */
export function toQuery(f: AuditFilters, now: number): { tenant: string | null; actor: string | null; action: string | null; since: string | null } {
  const text = (s: string) => (s.trim() === '' ? null : s.trim());
  return {
    tenant: text(f.tenant),
    actor: text(f.actor),
    action: text(f.action),
    since: f.since === '' ? null : new Date(now - WINDOW_MS[f.since]).toISOString(),
  };
}

/** Whether `name` is `filter` or one of its kind (`filter` then a `sep`). */
function within(name: string, filter: string, sep: string): boolean {
  return name === filter || name.startsWith(filter + sep);
}

/** Whether an entry arriving live belongs on the page the query `q` shows. */
export function matches(entry: AuditEntry, q: ReturnType<typeof toQuery>): boolean {
  if (q.tenant && entry.target !== `tenant:${q.tenant}`) return false;
  if (q.actor && !within(entry.actor, q.actor, ':')) return false;
  if (q.action && !within(entry.action, q.action, '.')) return false;
  if (q.since && Date.parse(entry.at) < Date.parse(q.since)) return false;
  return true;
}

/** Whether any filter is set. */
export function isFiltered(f: AuditFilters): boolean {
  return f.tenant !== '' || f.actor.trim() !== '' || f.action !== '' || f.since !== '';
}
