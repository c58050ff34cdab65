/**
 * A small GGUF (v3) writer: header, typed key/value metadata, tensor infos and
 * aligned tensor data, little-endian, as llama.cpp and Ollama read it
 * (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md). Enough to write
 * a model of our own when no weights can be downloaded (scripts/lib/tiny-model.ts).
 */

/** GGUF metadata value types. */
const T = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 } as const;

/** A metadata value with its GGUF type (JS numbers do not say which width they are). */
export type GgufValue =
  | { readonly type: 'u32' | 'i32' | 'f32' | 'u64'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string }
  | { readonly type: 'array'; readonly of: 'string'; readonly value: readonly string[] }
  | { readonly type: 'array'; readonly of: 'f32' | 'i32' | 'u32'; readonly value: ArrayLike<number> };

/** ggml tensor types this writer can store. */
export type GgufTensorType = 'F32' | 'F16';
const GGML_TYPE = { F32: 0, F16: 1 } as const;

export interface GgufTensor {
  readonly name: string;
  /** ggml order: ne[0] first (the row length), e.g. [n_embd, n_vocab] for token_embd. */
  readonly dims: readonly number[];
  readonly type: GgufTensorType;
  readonly data: Float32Array;
}

export const u32 = (value: number): GgufValue => ({ type: 'u32', value });
export const f32 = (value: number): GgufValue => ({ type: 'f32', value });
export const str = (value: string): GgufValue => ({ type: 'string', value });
export const bool = (value: boolean): GgufValue => ({ type: 'bool', value });

/** Appends little-endian values to a growing buffer. */
class Out {
  #buf = Buffer.alloc(1 << 16);
  length = 0;

  #room(n: number): void {
    if (this.length + n <= this.#buf.length) return;
    const next = Buffer.alloc(Math.max(this.#buf.length * 2, this.length + n));
    this.#buf.copy(next, 0, 0, this.length);
    this.#buf = next;
  }
  u32(v: number): void {
    this.#room(4);
    this.length = this.#buf.writeUInt32LE(v, this.length);
  }
  i32(v: number): void {
    this.#room(4);
    this.length = this.#buf.writeInt32LE(v, this.length);
  }
  u64(v: number): void {
    this.#room(8);
    this.length = this.#buf.writeBigUInt64LE(BigInt(v), this.length);
  }
  f32(v: number): void {
    this.#room(4);
    this.length = this.#buf.writeFloatLE(v, this.length);
  }
  u8(v: number): void {
    this.#room(1);
    this.length = this.#buf.writeUInt8(v, this.length);
  }
  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.length);
    this.length += b.length;
  }
  string(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.bytes(b);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.#room(n);
    this.length += n; // alloc'd zeroes
  }
  result(): Buffer {
    return this.#buf.subarray(0, this.length);
  }
}

const scratch = new Float32Array(1);
const scratchBits = new Uint32Array(scratch.buffer);

/** IEEE 754 half precision, round to nearest even (no Float16Array in Node 20). */
export function toHalf(value: number): number {
  scratch[0] = value;
  const x = scratchBits[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rest > mid || (rest === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++; // a carry into the exponent is right, up to infinity (0x7c00)
  return sign | half;
}

function writeValue(out: Out, v: GgufValue): void {
  switch (v.type) {
    case 'u32':
      out.u32(T.u32);
      out.u32(v.value);
      return;
    case 'i32':
      out.u32(T.i32);
      out.i32(v.value);
      return;
    case 'u64':
      out.u32(T.u64);
      out.u64(v.value);
      return;
    case 'f32':
      out.u32(T.f32);
      out.f32(v.value);
      return;
    case 'bool':
      out.u32(T.bool);
      out.u8(v.value ? 1 : 0);
      return;
    case 'string':
      out.u32(T.string);
      out.string(v.value);
      return;
    case 'array': {
      out.u32(T.array);
      out.u32(T[v.of]);
      out.u64(v.value.length);
      if (v.of === 'string') {
        for (const s of v.value as readonly string[]) out.string(s);
        return;
      }
      const nums = v.value as ArrayLike<number>;
      for (let i = 0; i < nums.length; i++) {
        const n = nums[i] as number;
        if (v.of === 'f32') out.f32(n);
        else if (v.of === 'i32') out.i32(n);
        else out.u32(n);
      }
    }
  }
}

/** The bytes of a GGUF v3 file holding `metadata` and `tensors` (each tensor's data at an aligned offset). */
export function writeGguf(metadata: Readonly<Record<string, GgufValue>>, tensors: readonly GgufTensor[], alignment = 32): Buffer {
  const out = new Out();
  out.bytes(Buffer.from('GGUF', 'latin1'));
  out.u32(3);
  out.u64(tensors.length);
  const meta = { ...metadata, 'general.alignment': u32(alignment) };
  out.u64(Object.keys(meta).length);
  for (const [key, value] of Object.entries(meta)) {
    out.string(key);
    writeValue(out, value);
  }
  let offset = 0;
  const sizes = tensors.map((t) => {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) throw new Error(`tensor ${t.name}: dims ${t.dims.join('x')} hold ${count} values, data has ${t.data.length}`);
    return count * (t.type === 'F32' ? 4 : 2);
  });
  tensors.forEach((t, i) => {
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGML_TYPE[t.type]);
    out.u64(offset);
    offset += sizes[i] as number;
    offset += (alignment - (offset % alignment)) % alignment;
  });
  out.pad(alignment);
  for (const t of tensors) {
    if (t.type === 'F32') out.bytes(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    else {
      const half = new Uint16Array(t.data.length);
      for (let i = 0; i < t.data.length; i++) half[i] = toHalf(t.data[i] as number);
      out.bytes(new Uint8Array(half.buffer));
    }
    out.pad(alignment);
  }
  return out.result();
}
