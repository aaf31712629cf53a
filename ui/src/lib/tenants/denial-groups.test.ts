import { describe, expect, it } from 'vitest';
import type { Denial } from '$lib/backend';
import { groupDenials } from './denial-groups';

let next = 1;
function denial(at: string, over: Partial<Denial> = {}): Denial {
  return {
    id: next++,
    at,
    code: 'INSUFFICIENT_CREDITS',
    status: 402,
    method: 'GET',
    path: '/v1/echo',
    path_truncated: false,
    request_id: `r${next}`,
    route: '/v1',
    ...over,
  };
}

describe('groupDenials', () => {
  it('folds repeats of the same route, status and code into one row with count, first and last seen', () => {
    const rows = [
      denial('2026-12-02T10:00:03Z'),
      denial('2026-12-02T10:00:01Z'),
      denial('2026-12-02T10:00:02Z'),
    ];
    const groups = groupDenials(rows);
    expect(groups).toHaveLength(1);
    expect(groups[0]).toMatchObject({ count: 3, first: '2026-12-02T10:00:01Z', last: '2026-12-02T10:00:03Z', route: '/v1', status: 402 });
    expect(groups[0].latest).toBe(rows[0]);
  });

  it('keeps different codes, statuses and routes apart, newest group first', () => {
    const groups = groupDenials([
      denial('2026-12-02T10:00:05Z', { code: 'RATE_LIMITED', status: 429 }),
      denial('2026-12-02T10:00:04Z'),
      denial('2026-12-02T10:00:03Z', { route: '/v2' }),
      denial('2026-12-02T10:00:02Z', { code: 'RATE_LIMITED', status: 429 }),
      denial('2026-12-02T10:00:01Z'),
    ]);
    expect(groups.map((g) => [g.code, g.route, g.count])).toEqual([
      ['RATE_LIMITED', '/v1', 2],
      ['INSUFFICIENT_CREDITS', '/v1', 2],
      ['INSUFFICIENT_CREDITS', '/v2', 1],
    ]);
  });

  it('groups by path when no route matched', () => {
    const groups = groupDenials([
      denial('2026-12-02T10:00:02Z', { route: null, path: '/nope', code: 'NO_ROUTE', status: 404 }),
      denial('2026-12-02T10:00:01Z', { route: null, path: '/other', code: 'NO_ROUTE', status: 404 }),
    ]);
    expect(groups.map((g) => g.route)).toEqual(['/nope', '/other']);
  });

  it('is empty for no denials', () => {
    expect(groupDenials([])).toEqual([]);
  });
});
