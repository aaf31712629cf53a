import { describe, expect, it } from 'vitest';
import { placeholders } from './placeholders';

describe('placeholders', () => {
  it('names the settings still at example.com', () => {
    const found = placeholders({
      billing_link_template: 'https://billing.example.com/{tenant}',
      problem_type_base: 'https://tollgate.example.com/problems/',
    });
    expect(found.map((p) => p.key)).toEqual(['billing_link_template', 'problem_type_base']);
    expect(found[0].label).toBe('Billing link');
  });

  it('is empty once the operator has set them', () => {
    expect(placeholders({ billing_link_template: 'https://billing.acme-api.com/{tenant}', problem_type_base: 'https://acme-api.com/problems/' })).toEqual([]);
  });

  it('looks at the host, not the text', () => {
    const found = placeholders({ billing_link_template: 'https://pay.acme.io/example.com/{tenant}', problem_type_base: 'https://EXAMPLE.COM/p/' });
    expect(found.map((p) => p.key)).toEqual(['problem_type_base']);
  });
});
