/**
 * Whether a slug tells the reader anything its display name does not: a tenant or plan
 * named "acme" with the slug "acme" would otherwise read "acme acme". A slug that differs
 * only in case ("Basic", `basic`) still shows: it is what the CLI and the API take.
 */
export function slugAddsToName(name: string, slug: string): boolean {
  return name.trim() !== slug.trim();
}

/** "Acme Corp (acme-corp)", or just "acme" when name and slug are the same. */
export function nameWithSlug(name: string, slug: string): string {
  return slugAddsToName(name, slug) ? `${name} (${slug})` : name;
}
