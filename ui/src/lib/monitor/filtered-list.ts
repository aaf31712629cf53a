/**
 * The rows a filter lets through, newest first, kept up to date one batch at a time so a
 * filter does not cost a scan of the whole buffer on every animation frame.
 */
export class FilteredList<T> {
  private rows: T[] = [];
  private readonly capacity: number;
  private predicate: (item: T) => boolean;

  constructor(capacity: number, predicate: (item: T) => boolean) {
    this.capacity = capacity;
    this.predicate = predicate;
  }

  /** Starts over from `newestFirst` with a (possibly new) predicate. */
  rebuild(newestFirst: Iterable<T>, predicate: (item: T) => boolean = this.predicate): void {
    this.predicate = predicate;
    const rows: T[] = [];
    for (const item of newestFirst) {
      if (rows.length >= this.capacity) break;
      if (predicate(item)) rows.push(item);
    }
    this.rows = rows;
  }

  /** Adds a batch given oldest first; returns how many rows it added at the top. */
  prepend(oldestFirst: readonly T[]): number {
    const added: T[] = [];
    for (let i = oldestFirst.length - 1; i >= 0; i--) {
      if (this.predicate(oldestFirst[i])) added.push(oldestFirst[i]);
    }
    if (added.length === 0) return 0;
    const rows = added.concat(this.rows);
    if (rows.length > this.capacity) rows.length = this.capacity;
    this.rows = rows;
    return Math.min(added.length, this.capacity);
  }

  /** How many rows pass. */
  get length(): number {
    return this.rows.length;
  }

  /** The row at `index` (0: newest). */
  at(index: number): T | undefined {
    return this.rows[index];
  }
}
