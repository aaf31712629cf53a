// A paid amount is typed as people write money ("49", "49.90", "1,250.00") and sent as
// integer minor units of the currency, with no float arithmetic on the way.

import { minorDigits } from '$lib/format/money';
import type { Parsed } from './parse';

/**
 * Reads an amount of `currency` into minor units ("49.9" USD → 4990, "500" JPY → 500);
 * empty is `null` (not recorded). Refuses more decimals than the currency has, signs and
 * amounts past 2^53.
 */
export function parseMoneyInput(text: string, currency: string): Parsed<number | null> {
  const compact = text.trim().replace(/[\s,_\u00a0\u202f]/g, '');
  if (compact === '') return { ok: true, value: null };
  const digits = minorDigits(currency);
  const match = /^(\d+)(?:\.(\d*))?$/.exec(compact);
  if (!match) return { ok: false, error: `Enter an amount such as ${digits ? '49.90' : '500'}.` };
  const fraction = match[2] ?? '';
  if (fraction.length > digits) {
    return { ok: false, error: digits === 0 ? `${currency} has no decimals.` : `${currency} has ${digits} decimals at most.` };
  }
  const minor = Number(match[1] + fraction.padEnd(digits, '0'));
  if (!Number.isSafeInteger(minor)) return { ok: false, error: 'That amount is too large.' };
  return { ok: true, value: minor };
}
