import { describe, expect, it } from 'vitest';
import { isLanguageTag } from './locale';

describe('isLanguageTag', () => {
  it('accepts language tags and refuses the POSIX locale names a webview may report', () => {
    expect(isLanguageTag('en-US')).toBe(true);
    expect(isLanguageTag('de')).toBe(true);
    expect(isLanguageTag('C')).toBe(false);
    expect(isLanguageTag('')).toBe(false);
    expect(isLanguageTag(undefined)).toBe(false);
  });
});
