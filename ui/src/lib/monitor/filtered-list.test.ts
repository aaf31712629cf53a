import { describe, expect, it } from 'vitest';
import { FilteredList } from './filtered-list';

const even = (n: number) => n % 2 === 0;

describe('FilteredList', () => {
  it('rebuilds from a newest-first source', () => {
    const list = new FilteredList<number>(10, even);
    list.rebuild([6, 5, 4, 3, 2, 1]);
    expect([0, 1, 2].map((i) => list.at(i))).toEqual([6, 4, 2]);
    expect(list.length).toBe(3);
  });

  it('prepends the matching part of a batch, newest on top, and says how many', () => {
    const list = new FilteredList<number>(10, even);
    list.rebuild([2, 1]);
    expect(list.prepend([3, 4, 5, 6])).toBe(2);
    expect([0, 1, 2].map((i) => list.at(i))).toEqual([6, 4, 2]);
    expect(list.prepend([7, 9])).toBe(0);
    expect(list.length).toBe(3);
  });

  it('stays within its capacity, keeping the newest', () => {
    const list = new FilteredList<number>(3, () => true);
    list.rebuild([]);
    list.prepend([1, 2]);
    expect(list.prepend([3, 4, 5, 6, 7])).toBe(3);
    expect([0, 1, 2].map((i) => list.at(i))).toEqual([7, 6, 5]);
    expect(list.length).toBe(3);
  });

  it('switches predicates on rebuild', () => {
    const list = new FilteredList<number>(10, even);
    list.rebuild([3, 2, 1], (n) => n > 1);
    expect(list.length).toBe(2);
    list.prepend([4]);
    expect(list.at(0)).toBe(4);
  });
});
