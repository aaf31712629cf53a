// The dashboard routes by the URL fragment (#/tenants/acme) so it works from any base path
// that `tollgate serve` mounts it on and inside the Tauri webview, with no server rewrites.

/** Every screen and what it needs to open. */
export type Route =
  | { name: 'monitor' }
  | { name: 'overview' }
  | { name: 'tenants' }
  | { name: 'tenant'; slug: string }
  | { name: 'plans' }
  | { name: 'routes' }
  | { name: 'settings' }
  | { name: 'audit' }
  | { name: 'not-found'; path: string };

/** Reads a fragment such as `#/tenants/acme%20corp`; anything unknown is `not-found`. */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '').replace(/[?].*$/, '');
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.length === 0) return { name: 'monitor' };
  const [first, second, ...rest] = parts;
  if (rest.length === 0) {
    if (first === 'tenants' && second === undefined) return { name: 'tenants' };
    if (first === 'tenants' && second !== undefined) {
      try {
        return { name: 'tenant', slug: decodeURIComponent(second) };
      } catch {
        return { name: 'not-found', path };
      }
    }
    if (second === undefined) {
      switch (first) {
        case 'overview':
          return { name: 'overview' };
        case 'plans':
          return { name: 'plans' };
        case 'routes':
          return { name: 'routes' };
        case 'settings':
          return { name: 'settings' };
        case 'audit':
          return { name: 'audit' };
      }
    }
  }
  return { name: 'not-found', path };
}

/** The `href` of a screen, so links are real links (middle-click, copy address). */
export function href(route: Route): string {
  switch (route.name) {
    case 'monitor':
      return '#/';
    case 'tenant':
      return `#/tenants/${encodeURIComponent(route.slug)}`;
    case 'not-found':
      return `#${route.path}`;
    default:
      return `#/${route.name}`;
  }
}

/** Shorthand for the most linked screen. */
export function tenantHref(slug: string): string {
  return href({ name: 'tenant', slug });
}
