/**
 * The monitor's list: the newest `capacity` events, newest first, in a ring so that adding
 * an event never copies the list (at 1,000 events/s a copy per event would be the cost).
 *
 * Pausing freezes what the operator reads: arrivals are held aside and counted exactly, even
 * when more arrive than the buffer can keep, and resuming applies them in arrival order.
 */
export class EventBuffer<T> {
  readonly capacity: number;
  private readonly ring: (T | undefined)[];
  /** Where the next item goes. */
  private head = 0;
  private size = 0;
  /** Items that arrived while paused, oldest first; trimmed to `capacity` newest. */
  private held: T[] = [];
  private heldCount = 0;
  private droppedCount = 0;
  private isPaused = false;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer');
    this.capacity = capacity;
    this.ring = new Array<T | undefined>(capacity);
  }

  /** Adds items given oldest first (the order they arrived in). */
  push(items: readonly T[]): void {
    if (this.isPaused) {
      this.heldCount += items.length;
      for (const item of items) this.held.push(item);
      if (this.held.length > this.capacity * 2) this.trimHeld();
      return;
    }
    this.append(items);
  }

  private trimHeld(): void {
    const excess = this.held.length - this.capacity;
    if (excess > 0) {
      this.held.splice(0, excess);
      this.droppedCount += excess;
    }
  }

  private append(items: readonly T[]): void {
    // Only the newest `capacity` items of a large batch can survive: skip the rest.
    const skip = Math.max(0, items.length - this.capacity);
    this.droppedCount += skip;
    for (let i = skip; i < items.length; i++) {
      if (this.size === this.capacity) this.droppedCount++;
      else this.size++;
      this.ring[this.head] = items[i];
      this.head = (this.head + 1) % this.capacity;
    }
  }

  /** How many items the visible list holds. */
  get length(): number {
    return this.size;
  }

  /** The item at `index`, 0 being the newest; undefined past the end. */
  at(index: number): T | undefined {
    if (index < 0 || index >= this.size) return undefined;
    return this.ring[(this.head - 1 - index + this.capacity * 2) % this.capacity];
  }

  /** The visible list, newest first (a copy: callers may filter it freely). */
  toArray(): T[] {
    const out = new Array<T>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.at(i) as T;
    return out;
  }

  /** Whether the visible list is frozen. */
  get paused(): boolean {
    return this.isPaused;
  }

  /** Exact number of items that arrived since the pause began. */
  get arrivedWhilePaused(): number {
    return this.heldCount;
  }

  /** Items that fell out of the window (oldest first), since the start. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Freezes the visible list; arrivals are held. */
  pause(): void {
    this.isPaused = true;
  }

  /** Applies what arrived while paused, in order, and returns how many arrived. */
  resume(): number {
    if (!this.isPaused) return 0;
    this.isPaused = false;
    this.trimHeld();
    const held = this.held;
    const count = this.heldCount;
    this.held = [];
    this.heldCount = 0;
    this.append(held);
    return count;
  }

  /** Forgets every item (the counters elsewhere are kept). */
  clear(): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.size = 0;
    this.held = [];
    this.heldCount = 0;
  }
}
