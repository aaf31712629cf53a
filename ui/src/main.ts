// First: a webview started without LANG reports the locale "C", on which Intl throws.
import '$lib/locale';
import { mount } from 'svelte';
import { getBackend } from '$lib/backend';
import App from './App.svelte';
import './app.css';

// Choose the backend before anything reads the address: it takes the admin token out of
// the fragment (#token=…) before the router sees it.
const backend = getBackend();

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

const app = mount(App, { target });
// The first render is in the DOM: the desktop shows its window now (it stays hidden until
// then so it never flashes blank; a hidden webview runs no animation frames to wait for).
setTimeout(() => backend.painted(), 0);

export default app;
