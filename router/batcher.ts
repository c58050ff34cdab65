/**
 * Micro-batching: requests that arrive within a short window go upstream as
 * one batch, and each gets its own part of the answer back. A batch leaves
 * when the window closes or when it holds `maxItems` items.
 */

export interface MicroBatcherOptions<I, O> {
  readonly windowMs: number;
  readonly maxItems: number;
  /** Sends one batch: one output per request (group of items), in order. */
  readonly run: (groups: readonly (readonly I[])[]) => Promise<O[]>;
}

interface Pending<I, O> {
  readonly items: readonly I[];
  readonly resolve: (value: O) => void;
  readonly reject: (err: unknown) => void;
}

/** Collects requests for `windowMs` (or `maxItems`) and sends them as one batch. */
export class MicroBatcher<I, O> {
  readonly #o: MicroBatcherOptions<I, O>;
  #pending: Pending<I, O>[] = [];
  #count = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: MicroBatcherOptions<I, O>) {
    this.#o = options;
  }

  /** Queues one request (its items stay together in one batch). */
  add(items: readonly I[]): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      if (this.#count > 0 && this.#count + items.length > this.#o.maxItems) this.flush();
      this.#pending.push({ items, resolve, reject });
      this.#count += items.length;
      if (this.#count >= this.#o.maxItems) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#o.windowMs);
    });
  }

  /** Sends what is queued now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    this.#count = 0;
    if (batch.length === 0) return;
    this.#o.run(batch.map((p) => p.items)).then(
      (outputs) => batch.forEach((p, i) => (i < outputs.length ? p.resolve(outputs[i] as O) : p.reject(new Error(`batch answered ${outputs.length} of ${batch.length}`)))),
      (err: unknown) => batch.forEach((p) => p.reject(err)),
    );
  }
}

/** Splits `total` in proportion to `weights`, in integers that add up to it (largest remainder). */
export function apportion(total: number, weights: readonly number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum === 0) return weights.map((_, i) => (i === 0 ? total : 0));
  const exact = weights.map((w) => (total * w) / sum);
  const out = exact.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((v, i) => [v - Math.floor(v), i] as const).sort((a, b) => b[0] - a[0]);
  for (const [, i] of order) {
    if (left-- <= 0) break;
    out[i] = (out[i] ?? 0) + 1;
  }
  return out;
}
