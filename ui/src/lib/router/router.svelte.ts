import { parseHash, type Route } from './hash';

/** The current screen, following the URL fragment (back/forward, links, typed addresses). */
class Router {
  current = $state<Route>(parseHash(typeof location === 'undefined' ? '' : location.hash));

  /** Listens for fragment changes; returns the function that stops listening. */
  start(): () => void {
    const update = () => {
      this.current = parseHash(location.hash);
    };
    window.addEventListener('hashchange', update);
    update();
    return () => window.removeEventListener('hashchange', update);
  }
}

/** The app's one router. */
export const router = new Router();
