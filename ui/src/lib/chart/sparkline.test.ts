import { describe, expect, it } from 'vitest';
import { sparklinePath } from './sparkline';

describe('sparklinePath', () => {
  it('draws nothing for fewer than two points', () => {
    expect(sparklinePath([], 100, 20)).toBe('');
    expect(sparklinePath([5], 100, 20)).toBe('');
  });

  it('spans the box, lowest value at the bottom', () => {
    expect(sparklinePath([0, 10], 100, 20, 0)).toBe('M0,20 L100,0');
    expect(sparklinePath([10, 0, 5], 100, 20, 0)).toBe('M0,0 L50,20 L100,10');
  });

  it('draws a flat middle line when nothing changes', () => {
    expect(sparklinePath([7, 7, 7], 100, 20, 0)).toBe('M0,10 L50,10 L100,10');
  });

  it('keeps a padding inside the box', () => {
    expect(sparklinePath([0, 10], 102, 22, 1)).toBe('M1,21 L101,1');
  });
});
