import { describe, expect, it } from 'vitest';
import { nameWithSlug, slugAddsToName } from './names';

describe('slugAddsToName', () => {
  it('hides a slug equal to the name', () => {
    expect(slugAddsToName('acme', 'acme')).toBe(false);
    expect(slugAddsToName('acme ', 'acme')).toBe(false);
    expect(nameWithSlug('pro', 'pro')).toBe('pro');
  });

  it('keeps a slug that differs, even only in case (the CLI needs it exactly)', () => {
    expect(slugAddsToName('Acme Corp', 'acme-corp')).toBe(true);
    expect(slugAddsToName('Basic', 'basic')).toBe(true);
    expect(nameWithSlug('Pro', 'pro-2026')).toBe('Pro (pro-2026)');
  });
});
