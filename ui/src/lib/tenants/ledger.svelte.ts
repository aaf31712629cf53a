import { getBackend, type LedgerEntry } from '$lib/backend';
import { toActionError } from '$lib/forms/errors';

/** How many ledger entries a page holds. */
export const LEDGER_PAGE = 25;

/**
 * A tenant's ledger, newest first, loaded a page at a time with `before_id` so a tenant with
 * millions of debits opens as fast as a new one.
 */
export class LedgerHistory {
  entries = $state.raw<LedgerEntry[]>([]);
  hasMore = $state(false);
  loading = $state(false);
  loaded = $state(false);
  error = $state<string | null>(null);
  private readonly tenant: string;
  private request = 0;

  constructor(tenant: string) {
    this.tenant = tenant;
  }

  /** Loads the newest page again (after an action), dropping older pages. */
  async reset(): Promise<void> {
    await this.fetch(null, (page) => ({ entries: page, keptOlder: false }));
  }

  /**
   * Takes in what was written since the newest page was loaded (usage written, strict usage
   * folded, an open entry that grew), keeping the older pages already shown. Skipped while
   * another load is under way (the next look comes soon), so it never drops an older page
   * being fetched.
   */
  async catchUp(): Promise<void> {
    if (!this.loaded) return this.reset();
    if (this.loading) return;
    await this.fetch(null, (page) => withNewest(page, this.entries));
  }

  /** Appends the next older page. */
  async more(): Promise<void> {
    const last = this.entries.at(-1);
    if (last) await this.fetch(last.id, (page) => ({ entries: [...this.entries, ...page], keptOlder: false }));
  }

  /** Loads the page before `beforeId` (newest if null) and lets `take` place it among the shown. */
  private async fetch(beforeId: number | null, take: (page: LedgerEntry[]) => { entries: LedgerEntry[]; keptOlder: boolean }): Promise<void> {
    const request = ++this.request;
    this.loading = true;
    try {
      const page = await getBackend().call('ledger.list', { tenant: this.tenant, before_id: beforeId, limit: LEDGER_PAGE });
      if (request !== this.request) return;
      const placed = take(page);
      this.entries = placed.entries;
      // Kept older pages keep their own "more"; otherwise a full page says there may be more.
      if (!placed.keptOlder) this.hasMore = page.length === LEDGER_PAGE;
      this.error = null;
      this.loaded = true;
    } catch (e) {
      if (request !== this.request) return;
      this.error = toActionError(e).message;
    } finally {
      if (request === this.request) this.loading = false;
    }
  }
}

/**
 * The newest page in front of the older entries already shown. Entries are newest first by
 * id; an entry can change in place (a tenant's open usage entry grows), so the page's
 * version wins. When the page does not reach the shown entries (more than a page was
 * written meanwhile), the page alone, as a fresh load would show it.
 */
export function withNewest(page: readonly LedgerEntry[], shown: readonly LedgerEntry[]): { entries: LedgerEntry[]; keptOlder: boolean } {
  const oldest = page.at(-1);
  if (!oldest || !shown.some((e) => e.id >= oldest.id)) return { entries: [...page], keptOlder: false };
  return { entries: [...page, ...shown.filter((e) => e.id < oldest.id)], keptOlder: true };
}
