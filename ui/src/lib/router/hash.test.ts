import { describe, expect, it } from 'vitest';
import { href, parseHash, tenantHref, type Route } from './hash';

describe('parseHash', () => {
  it('opens the monitor for an empty fragment', () => {
    expect(parseHash('')).toEqual({ name: 'monitor' });
    expect(parseHash('#')).toEqual({ name: 'monitor' });
    expect(parseHash('#/')).toEqual({ name: 'monitor' });
  });

  it('reads every screen', () => {
    expect(parseHash('#/tenants')).toEqual({ name: 'tenants' });
    expect(parseHash('#/tenants/')).toEqual({ name: 'tenants' });
    expect(parseHash('#/tenants/acme')).toEqual({ name: 'tenant', slug: 'acme' });
    expect(parseHash('#/plans')).toEqual({ name: 'plans' });
    expect(parseHash('#/overview')).toEqual({ name: 'overview' });
    expect(parseHash('#/routes')).toEqual({ name: 'routes' });
    expect(parseHash('#/settings')).toEqual({ name: 'settings' });
    expect(parseHash('#/audit')).toEqual({ name: 'audit' });
  });

  it('decodes slugs and ignores a query', () => {
    expect(parseHash('#/tenants/acme%20corp')).toEqual({ name: 'tenant', slug: 'acme corp' });
    expect(parseHash('#/plans?x=1')).toEqual({ name: 'plans' });
  });

  it('says not-found for anything else, including broken escapes', () => {
    expect(parseHash('#/nope')).toEqual({ name: 'not-found', path: '/nope' });
    expect(parseHash('#/tenants/a/b')).toEqual({ name: 'not-found', path: '/tenants/a/b' });
    expect(parseHash('#/tenants/%E0%A4%A')).toEqual({ name: 'not-found', path: '/tenants/%E0%A4%A' });
  });
});

describe('href', () => {
  it('round-trips every route', () => {
    const routes: Route[] = [
      { name: 'monitor' },
      { name: 'overview' },
      { name: 'tenants' },
      { name: 'tenant', slug: 'a/b c' },
      { name: 'plans' },
      { name: 'routes' },
      { name: 'settings' },
      { name: 'audit' },
    ];
    for (const route of routes) expect(parseHash(href(route))).toEqual(route);
  });

  it('escapes slugs', () => {
    expect(tenantHref('a/b')).toBe('#/tenants/a%2Fb');
  });
});
