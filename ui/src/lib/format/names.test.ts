import { describe, expect, it } from 'vitest';
import { nameWithSlug, slugAddsToName } from './names';

describe('slugAddsToName', () => {
  it('hides a slug equal to the name, whatever the case', () => {
    expect(slugAddsToName('acme', 'acme')).toBe(false);
    expect(slugAddsToName('Acme ', 'acme')).toBe(false);
  });

  it('keeps a slug that differs', () => {
    expect(slugAddsToName('Acme Corp', 'acme-corp')).toBe(true);
    expect(nameWithSlug('Pro', 'pro-2026')).toBe('Pro (pro-2026)');
    expect(nameWithSlug('pro', 'pro')).toBe('pro');
  });
});
