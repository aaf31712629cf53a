import { describe, expect, it } from 'vitest';
import type { NodeStatus } from '$lib/backend';
import { nodeRows } from './nodes';

const now = Date.parse('2026-12-03T12:00:10Z');
const node = (name: string, up: boolean, behind: number, seen = '2026-12-03T12:00:09Z'): NodeStatus => ({
  name,
  up,
  changes_behind: behind,
  seen_at: seen,
  started_at: '2026-12-03T11:00:00Z',
});

describe('nodeRows', () => {
  it('puts down nodes first and flags one behind the change log', () => {
    const rows = nodeRows([node('n1', true, 0), node('n3', true, 2), node('n2', false, 0, '2026-12-03T11:58:00Z')], now);
    expect(rows.map((r) => [r.name, r.state, r.tone, r.behind])).toEqual([
      ['n2', 'down', 'danger', 'none'],
      ['n1', 'up', 'ok', 'none'],
      ['n3', 'catching up', 'warn', '2 changes'],
    ]);
    expect(rows[0].seen).toBe('2 min ago');
    expect(rows[1].seen).toBe('just now');
  });

  it('shows nothing for a server alone on SQLite', () => {
    expect(nodeRows([], now)).toEqual([]);
  });
});
