/**
 * The price table of usage-metered routes as the settings form edits it: one model per
 * line, `model prompt completion` (credits per million tokens), blank lines ignored.
 */
import type { ModelPrice } from '$lib/backend';

export type Parsed = { ok: true; value: ModelPrice[] } | { ok: false; error: string };

/** The table as text, one line per model. */
export function priceTableText(prices: ModelPrice[] | undefined): string {
  return (prices ?? []).map((p) => `${p.model} ${p.prompt_per_million} ${p.completion_per_million}`).join('\n');
}

/** Reads the text back; names the first line that is not `model prompt completion`. */
export function parsePriceTable(text: string): Parsed {
  const value: ModelPrice[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line) continue;
    const parts = line.split(/[\s,]+/);
    const [model, prompt, completion] = parts;
    const whole = (s: string | undefined) => (s !== undefined && /^\d{1,13}$/.test(s) ? Number(s) : null);
    const p = whole(prompt);
    const c = whole(completion);
    if (parts.length !== 3 || !model || p === null || c === null) {
      return { ok: false, error: `Line ${i + 1}: write “model prompt completion”, credits per million tokens (e.g. gpt-4o-mini 150 600).` };
    }
    if (value.some((v) => v.model === model)) return { ok: false, error: `Line ${i + 1}: ${model} is priced twice.` };
    value.push({ model, prompt_per_million: p, completion_per_million: c });
  }
  return { ok: true, value };
}

/** Whether two tables differ (order counts: it is the order the operator wrote). */
export function pricesChanged(a: ModelPrice[], b: ModelPrice[]): boolean {
  return priceTableText(a) !== priceTableText(b);
}
