/**
 * A value that must never reach a log line, an error message or a JSON body.
 * `String(secret)` and `JSON.stringify(secret)` print a placeholder; only
 * `reveal()` returns the value, so every use of it is greppable.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The secret itself: call at the last moment, at the point of use. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return 'Secret([secret])';
  }
}
