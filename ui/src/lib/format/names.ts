/**
 * Whether a slug tells the reader anything its display name does not: a tenant or plan
 * named "acme" with the slug "acme" would otherwise read "acme acme".
 */
export function slugAddsToName(name: string, slug: string): boolean {
  return name.trim().toLowerCase() !== slug.trim().toLowerCase();
}

/** "Acme Corp (acme-corp)", or just "acme" when name and slug are the same word. */
export function nameWithSlug(name: string, slug: string): string {
  return slugAddsToName(name, slug) ? `${name} (${slug})` : name;
}
