/** How numbers, times and risky text are shown. */

export function usd(value: number): string {
  return `$${value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 6 : 4)}`;
}

export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

/**
 * Control, bidi and zero-width characters made visible as ⟨U+XXXX⟩, so a
 * string cannot hide what it does (the inbox uses the API's own rendering,
 * `display.text`; this is for transcript text).
 */
export function visible(text: string): string {
  // \p{Cc} is U+0000–U+001F and U+007F–U+009F; tab and newline stay as they are.
  return text.replace(/(?![\t\n])[\p{Cc}\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/gu, (ch) => `⟨U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}⟩`);
}
