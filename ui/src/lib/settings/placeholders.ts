/**
 * Settings still at their `example.com` placeholders: every 402 would send customers to
 * a billing page that is not the operator's, and problem types to a site nobody owns.
 */
import type { Settings } from '$lib/backend';

/** A setting that still holds a placeholder, with what it is for. */
export interface Placeholder {
  key: 'billing_link_template' | 'problem_type_base';
  label: string;
  value: string;
}

const LABELS: Record<Placeholder['key'], string> = {
  billing_link_template: 'Billing link',
  problem_type_base: 'Problem type base',
};

/** Whether `url`'s host is example.com or one of its subdomains (RFC 2606). */
function isExample(url: string): boolean {
  try {
    const host = new URL(url.replace('{tenant}', 'tenant')).hostname.toLowerCase();
    return host === 'example.com' || host.endsWith('.example.com');
  } catch {
    return false;
  }
}

/** The settings that the operator has still to set, in the order Settings shows them. */
export function placeholders(settings: Pick<Settings, Placeholder['key']>): Placeholder[] {
  return (Object.keys(LABELS) as Placeholder['key'][])
    .filter((key) => isExample(settings[key]))
    .map((key) => ({ key, label: LABELS[key], value: settings[key] }));
}
