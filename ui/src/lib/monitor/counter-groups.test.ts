import { describe, expect, it } from 'vitest';
import { codeLabel, counterGroups } from './counter-groups';

describe('counterGroups', () => {
  it('lists every known code once, served first', () => {
    const groups = counterGroups({});
    const keys = groups.flatMap((g) => g.keys);
    expect(keys[0]).toBe('SERVED');
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toContain('INSUFFICIENT_CREDITS');
    expect(groups.find((g) => g.title === '402')?.keys).toContain('FEATURE_NOT_IN_PLAN');
  });

  it('adds codes it does not know to Other', () => {
    const other = counterGroups({ NEW_CODE: 3, SERVED: 1 }).find((g) => g.status === 'other');
    expect(other?.keys.at(-1)).toBe('NEW_CODE');
  });
});

describe('codeLabel', () => {
  it('reads like words', () => {
    expect(codeLabel('INSUFFICIENT_CREDITS')).toBe('insufficient credits');
    expect(codeLabel('SERVED')).toBe('served');
  });
});
