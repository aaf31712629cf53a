const KEY = 'tollgate.admin-token';

/**
 * The admin token. `tollgate serve` prints a URL carrying it once in the fragment
 * (`#token=…`), which browsers never send to servers or write to logs; it is moved to
 * session storage at once and removed from the address bar and history.
 */
export function adminToken(): string | null {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    const token = decodeURIComponent(match[1]);
    sessionStorage.setItem(KEY, token);
    const rest = location.hash.replace(/(^#|&)token=[^&]+/, '$1').replace(/^#&/, '#');
    history.replaceState(history.state, '', location.pathname + location.search + (rest === '#' ? '' : rest));
    return token;
  }
  return sessionStorage.getItem(KEY);
}
