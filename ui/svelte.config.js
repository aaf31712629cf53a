// Svelte compiler settings shared by Vite and svelte-check: runes everywhere.
export default {
  compilerOptions: { runes: true },
};
