// Form inputs arrive as text; commands want integers and lists. Parsing here (not with
// `type="number"` alone) lets a form say exactly what is wrong before anything is sent.

/** A parsed value or the message to show next to the field. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Bounds and wording for an integer field. */
export interface IntegerRules {
  min?: number;
  max?: number;
  /** An empty field yields `null` instead of an error. */
  optional?: boolean;
}

/**
 * Reads a whole number, allowing thousands separators ("10,000", "10 000", "10_000") and a
 * leading sign, and refusing fractions, exponents and numbers past 2^53 that would lose digits.
 */
export function parseInteger(text: string, rules: IntegerRules = {}): Parsed<number | null> {
  const trimmed = text.trim();
  if (trimmed === '') {
    return rules.optional ? { ok: true, value: null } : { ok: false, error: 'Required.' };
  }
  const compact = trimmed.replace(/[\s,_\u00a0\u202f]/g, '').replace(/^\u2212/, '-');
  if (!/^[+-]?\d+$/.test(compact)) return { ok: false, error: 'Enter a whole number.' };
  const value = Number(compact);
  if (!Number.isSafeInteger(value)) return { ok: false, error: 'That number is too large.' };
  if (rules.min !== undefined && value < rules.min) return { ok: false, error: `Must be at least ${rules.min}.` };
  if (rules.max !== undefined && value > rules.max) return { ok: false, error: `Must be at most ${rules.max}.` };
  return { ok: true, value: value === 0 ? 0 : value };
}

/** Splits "search, export,,beta" into ["search", "export", "beta"]; duplicates are dropped. */
export function parseList(text: string): string[] {
  const seen = new Set<string>();
  for (const part of text.split(/[,\n]/)) {
    const item = part.trim();
    if (item) seen.add(item);
  }
  return [...seen];
}

/** An optional text input: empty means "not given" (`null`), never an empty string. */
export function optionalText(text: string): string | null {
  const trimmed = text.trim();
  return trimmed === '' ? null : trimmed;
}
