import { mount } from 'svelte';
import { getBackend } from '$lib/backend';
import App from './App.svelte';
import './app.css';

// Choose the backend before anything reads the address: it takes the admin token out of
// the fragment (#token=…) before the router sees it.
getBackend();

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

export default mount(App, { target });
