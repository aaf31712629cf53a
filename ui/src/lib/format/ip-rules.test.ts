import { describe, expect, it } from 'vitest';
import { formatIpRules, ipListChanged, ipListText } from './ip-rules';

describe('IP rules', () => {
  it('reads as one line, or a dash without rules', () => {
    expect(formatIpRules([], [])).toBe('—');
    expect(formatIpRules(['10.0.0.0/8', '2001:db8::/32'], [])).toBe('allow 10.0.0.0/8, 2001:db8::/32');
    expect(formatIpRules(['10.0.0.0/8'], ['10.0.0.5/32'])).toBe('allow 10.0.0.0/8 · deny 10.0.0.5/32');
    expect(formatIpRules([], ['192.0.2.1/32'])).toBe('deny 192.0.2.1/32');
  });

  it('edits one entry per line and notices a change', () => {
    expect(ipListText(['10.0.0.0/8', '::1/128'])).toBe('10.0.0.0/8\n::1/128');
    expect(ipListText(undefined)).toBe('');
    expect(ipListChanged(['10.0.0.0/8'], ['10.0.0.0/8'])).toBe(false);
    expect(ipListChanged([], ['10.0.0.0/8'])).toBe(true);
  });
});
