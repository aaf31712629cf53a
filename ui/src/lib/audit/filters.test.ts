import { describe, expect, it } from 'vitest';
import type { AuditEntry } from '$lib/backend';
import { NO_FILTERS, actionGroups, isFiltered, matches, toQuery } from './filters';

const NOW = Date.parse('2026-12-02T12:00:00Z');
function entry(extra: Partial<AuditEntry>): AuditEntry {
  return { id: 1, at: '2026-12-02T11:30:00Z', actor: 'cli:alice', action: 'credits.topup', target: 'tenant:acme', ...extra };
}

describe('audit filters', () => {
  it('become audit.list input, empty ones left out', () => {
    expect(toQuery(NO_FILTERS, NOW)).toEqual({ tenant: null, actor: null, action: null, since: null });
    expect(toQuery({ tenant: 'acme', actor: ' cli ', action: 'credits', since: '1h' }, NOW)).toEqual({
      tenant: 'acme',
      actor: 'cli',
      action: 'credits',
      since: '2026-12-02T11:00:00.000Z',
    });
    expect(isFiltered(NO_FILTERS)).toBe(false);
    expect(isFiltered({ ...NO_FILTERS, since: '7d' })).toBe(true);
  });

  it('judge live entries as the server does', () => {
    const q = (f: Partial<typeof NO_FILTERS>) => toQuery({ ...NO_FILTERS, ...f }, NOW);
    expect(matches(entry({}), q({ tenant: 'acme', actor: 'cli', action: 'credits', since: '1h' }))).toBe(true);
    expect(matches(entry({}), q({ actor: 'cli:alice' }))).toBe(true);
    expect(matches(entry({}), q({ actor: 'cli:al' }))).toBe(false);
    expect(matches(entry({ target: 'tenant:acme-2' }), q({ tenant: 'acme' }))).toBe(false);
    expect(matches(entry({ action: 'credits.topup' }), q({ action: 'credit' }))).toBe(false);
    expect(matches(entry({ at: '2026-12-02T10:59:59Z' }), q({ since: '1h' }))).toBe(false);
  });

  it('offer every write command under its group', () => {
    const groups = actionGroups();
    expect(groups.map((g) => g.group)).toEqual(['credits', 'key', 'plan', 'route', 'settings', 'subscription', 'tenant']);
    expect(groups.find((g) => g.group === 'tenant')?.commands).toContain('tenant.suspend');
  });
});
