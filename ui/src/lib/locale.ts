/**
 * WebKitGTK reports the process locale as `navigator.language`; on a machine without LANG
 * (a server, CI) that is "C", which is no language tag, and `Intl` throws on it (uPlot
 * formats with it as soon as it is imported). Imported first, this swaps such a value for
 * `en-US` before anything formats.
 */
function isLanguageTag(tag: string | undefined): boolean {
  if (!tag) return false;
  try {
    return Intl.getCanonicalLocales(tag).length === 1;
  } catch {
    return false;
  }
}

if (typeof navigator !== 'undefined' && !isLanguageTag(navigator.language)) {
  Object.defineProperty(navigator, 'language', { value: 'en-US', configurable: true });
  Object.defineProperty(navigator, 'languages', { value: ['en-US'], configurable: true });
}

export { isLanguageTag };
