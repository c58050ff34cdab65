/**
 * Masks secret values in tool output before it is stored, streamed or shown
 * to the model. Each value is looked for as written, base64 (standard and
 * URL-safe, at each of the three byte alignments it can have inside a longer
 * encoded text, e.g. `user:<value>` of a basic-auth header), URL-encoded
 * (`%2F` and `%2f`, `+` for space), hex (either case) and JSON-escaped. Output
 * cut at a cap can end (or begin) with part of a value: that part is masked
 * too, down to MIN_PARTIAL characters.
 */

/** Shorter values are not masked: a 3-character "secret" would blank ordinary output. */
export const MIN_SECRET_CHARS = 6;
/** The shortest part of a value at a cut edge that is masked. */
const MIN_PARTIAL = 4;
/** The shortest base64 run (of a misaligned value) worth masking. */
const MIN_ENCODED = 8;

export interface MaskSecret {
  readonly name: string;
  readonly value: string;
}

/** The base64 text that a value always yields inside longer data, at byte offset `shift` mod 3. */
function base64Runs(value: Buffer): string[] {
  const runs: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), value]).toString('base64');
    const start = Math.ceil((shift * 8) / 6);
    const end = Math.floor(((shift + value.length) * 8) / 6);
    const run = encoded.slice(start, end);
    // The value alone (`printf %s value | base64`): its last character, padding aside, is the value's too.
    if (shift === 0) runs.push(encoded.replace(/=+$/, ''));
    if (run.length >= MIN_ENCODED) runs.push(run);
  }
  return runs;
}

/** encodeURIComponent of the UTF-8 bytes (which also takes lone surrogates, as their replacement character). */
function percentEncode(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += /[A-Za-z0-9\-_.!~*'()]/.test(String.fromCharCode(b)) && b < 0x80 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** Every form of one value to look for, longest first (a longer form is masked before its parts). */
export function secretForms(value: string): string[] {
  if (value.length < MIN_SECRET_CHARS) return [];
  const bytes = Buffer.from(value, 'utf8');
  const forms = new Set<string>([value]);
  const url = percentEncode(bytes);
  forms.add(url);
  forms.add(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  forms.add(url.replace(/%20/g, '+'));
  for (const run of base64Runs(bytes)) {
    forms.add(run);
    forms.add(run.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  const hex = bytes.toString('hex');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  forms.add(JSON.stringify(value).slice(1, -1));
  return [...forms].filter((f) => f.length >= Math.min(MIN_SECRET_CHARS, value.length)).sort((a, b) => b.length - a.length);
}

export class SecretMasker {
  readonly #forms: { form: string; label: string }[];


  constructor(secrets: readonly MaskSecret[]) {
    this.#forms = secrets
      .flatMap((s) => secretForms(s.value).map((form) => ({ form, label: `[masked secret ${s.name}]` })))
      .sort((a, b) => b.form.length - a.form.length);
  }

  get empty(): boolean {
    return this.#forms.length === 0;
  }

  /**
   * `text` with every form of every value replaced; with `cut`, a value's
   * beginning at the end of the text (`end`) or its end at the beginning
   * (`start`, a kept tail) is masked as well.
   */
  mask(text: string, cut: { start?: boolean; end?: boolean } = {}): string {
    // Matches become private-use placeholders first, so that one secret's label is never matched by another.
    const labels: string[] = [];
    const hold = (label: string) => `\ue000${labels.push(label) - 1}\ue001`;
    let out = text;
    for (const { form, label } of this.#forms) if (out.includes(form)) out = out.split(form).join(hold(label));
    if (cut.end) {
      for (const { form, label } of this.#forms) {
        for (let k = Math.min(form.length - 1, out.length); k >= MIN_PARTIAL; k--) {
          if (out.endsWith(form.slice(0, k))) {
            out = `${out.slice(0, out.length - k)}${hold(label)}`;
            break;
          }
        }
      }
    }
    if (cut.start) {
      for (const { form, label } of this.#forms) {
        for (let k = Math.min(form.length - 1, out.length); k >= MIN_PARTIAL; k--) {
          if (out.startsWith(form.slice(form.length - k))) {
            out = `${hold(label)}${out.slice(k)}`;
            break;
          }
        }
      }
    }
    return labels.length === 0 ? out : out.replace(/\ue000(\d+)\ue001/g, (_m, i: string) => labels[Number(i)] ?? '');
  }

  /**
   * Bytes with every form masked, byte for byte outside the matches (binary
   * output, artifacts): matched as latin1 text, where each byte is one character.
   */
  maskBytes(bytes: Buffer, cut: { start?: boolean; end?: boolean } = {}): Buffer {
    if (this.#forms.length === 0) return bytes;
    return Buffer.from(this.#asBytes().mask(bytes.toString('latin1'), cut), 'latin1');
  }

  #bytes: SecretMasker | undefined;

  /** The same forms as latin1 text of their UTF-8 bytes (one character per byte). */
  #asBytes(): SecretMasker {
    if (!this.#bytes) {
      this.#bytes = new SecretMasker([]);
      this.#bytes.#forms.push(...this.#forms.map((f) => ({ form: Buffer.from(f.form, 'utf8').toString('latin1'), label: f.label })));
    }
    return this.#bytes;
  }

  /**
   * For bytes that more will follow (a stream): how many of them can be
   * masked and passed on now. What is held back is the tail that could be the
   * start of a form, and any whole form that straddles the cut, so that a
   * value split across two chunks is still masked whole.
   */
  streamCut(bytes: Buffer): number {
    const forms = this.#asBytes().#forms;
    if (forms.length === 0) return bytes.length;
    const text = bytes.toString('latin1');
    const longest = forms[0]?.form.length ?? 0;
    let cut = Math.max(0, text.length - (longest - 1));
    for (let moved = true; moved; ) {
      moved = false;
      for (const { form } of forms) {
        const at = text.indexOf(form, Math.max(0, cut - form.length + 1));
        if (at !== -1 && at < cut) {
          cut = at;
          moved = true;
        }
      }
    }
    return cut;
  }

  /** A JSON-like value with every string in it masked (keys too); `cutFields` are strings that were cut at their end. */
  maskValue<T>(value: T, cutFields: ReadonlySet<string> = new Set()): T {
    const walk = (v: unknown, key?: string): unknown => {
      if (typeof v === 'string') return this.mask(v, key !== undefined && cutFields.has(key) ? { end: true } : {});
      if (Array.isArray(v)) return v.map((x) => walk(x));
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [this.mask(k), walk(x, k)]));
      return v;
    };
    return walk(value) as T;
  }
}
