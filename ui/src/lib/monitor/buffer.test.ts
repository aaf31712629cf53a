import { describe, expect, it } from 'vitest';
import { EventBuffer } from './buffer';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('EventBuffer', () => {
  it('lists newest first', () => {
    const buffer = new EventBuffer<number>(10);
    buffer.push([1, 2, 3]);
    buffer.push([4]);
    expect(buffer.toArray()).toEqual([4, 3, 2, 1]);
    expect(buffer.at(0)).toBe(4);
    expect(buffer.at(3)).toBe(1);
    expect(buffer.at(4)).toBeUndefined();
    expect(buffer.at(-1)).toBeUndefined();
  });

  it('keeps the newest items when it overflows and counts what it dropped', () => {
    const buffer = new EventBuffer<number>(5);
    buffer.push(range(1, 3));
    buffer.push(range(4, 8));
    expect(buffer.length).toBe(5);
    expect(buffer.toArray()).toEqual([8, 7, 6, 5, 4]);
    expect(buffer.dropped).toBe(3);
  });

  it('keeps the newest of a batch larger than itself', () => {
    const buffer = new EventBuffer<number>(3);
    buffer.push(range(1, 10));
    expect(buffer.toArray()).toEqual([10, 9, 8]);
    expect(buffer.dropped).toBe(7);
    buffer.push([11]);
    expect(buffer.toArray()).toEqual([11, 10, 9]);
    expect(buffer.dropped).toBe(8);
  });

  it('wraps around its ring many times without losing order', () => {
    const buffer = new EventBuffer<number>(7);
    for (let i = 1; i <= 1000; i++) buffer.push([i]);
    expect(buffer.toArray()).toEqual(range(994, 1000).reverse());
    expect(buffer.dropped).toBe(993);
  });

  it('freezes while paused and counts every arrival exactly', () => {
    const buffer = new EventBuffer<number>(5);
    buffer.push([1, 2]);
    buffer.pause();
    buffer.push([3, 4]);
    buffer.push([5]);
    expect(buffer.paused).toBe(true);
    expect(buffer.toArray()).toEqual([2, 1]);
    expect(buffer.arrivedWhilePaused).toBe(3);
  });

  it('merges held items in arrival order on resume', () => {
    const buffer = new EventBuffer<number>(10);
    buffer.push([1, 2]);
    buffer.pause();
    buffer.push([3, 4]);
    buffer.push([5]);
    expect(buffer.resume()).toBe(3);
    expect(buffer.paused).toBe(false);
    expect(buffer.arrivedWhilePaused).toBe(0);
    expect(buffer.toArray()).toEqual([5, 4, 3, 2, 1]);
    buffer.push([6]);
    expect(buffer.at(0)).toBe(6);
  });

  it('counts arrivals exactly even when more arrive while paused than it can hold', () => {
    const buffer = new EventBuffer<number>(4);
    buffer.push([1]);
    buffer.pause();
    for (let i = 2; i <= 101; i++) buffer.push([i]);
    expect(buffer.arrivedWhilePaused).toBe(100);
    expect(buffer.toArray()).toEqual([1]);
    expect(buffer.resume()).toBe(100);
    expect(buffer.toArray()).toEqual([101, 100, 99, 98]);
    // 1 plus 96 of the held items fell out of the window.
    expect(buffer.dropped).toBe(97);
  });

  it('resuming when not paused changes nothing', () => {
    const buffer = new EventBuffer<number>(3);
    buffer.push([1]);
    expect(buffer.resume()).toBe(0);
    expect(buffer.toArray()).toEqual([1]);
  });

  it('clears', () => {
    const buffer = new EventBuffer<number>(3);
    buffer.push([1, 2]);
    buffer.clear();
    expect(buffer.length).toBe(0);
    expect(buffer.toArray()).toEqual([]);
  });

  it('refuses a capacity that cannot hold anything', () => {
    expect(() => new EventBuffer<number>(0)).toThrow(RangeError);
    expect(() => new EventBuffer<number>(2.5)).toThrow(RangeError);
  });
});
