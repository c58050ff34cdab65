/** The mutable state of one mock server: request counters, scripted-error attempts, completion ids. */
import { EmbeddingCounters } from './embeddings.js';

/** Counters served at `GET /_mock/stats`. */
export interface MockStats {
  /** Chat completion requests that reached scenario selection. */
  requests: number;
  /** Requests per selected scenario (`(echo)` for the built-in echo). */
  byScenario: Record<string, number>;
  /** Error answers to those requests (scripted errors and unknown scenarios). */
  errors: number;
}

/** The mutable state of one mock server: counters, attempts of scripted errors, completion ids. */
export class MockLlmState {
  private requests = 0;
  private errors = 0;
  private readonly byScenario = new Map<string, number>();
  /** Counters of /v1/embeddings. */
  readonly embeddings = new EmbeddingCounters();
  private readonly attempts = new Map<string, number>();
  private lastId = 0;

  /** Counts a request that reached scenario selection. */
  countRequest(): void {
    this.requests++;
  }

  /** Counts the scenario a request was answered from. */
  countScenario(name: string): void {
    this.byScenario.set(name, (this.byScenario.get(name) ?? 0) + 1);
  }

  /** Counts an error answer. */
  countError(): void {
    this.errors++;
  }

  /** Records one more attempt of `key` and returns its number, starting at 1. */
  attempt(key: string): number {
    const n = (this.attempts.get(key) ?? 0) + 1;
    this.attempts.set(key, n);
    return n;
  }

  /** A fresh `chatcmpl-mock-<n>` id (never reset, so ids stay unique per server). */
  nextCompletionId(): string {
    return `chatcmpl-mock-${++this.lastId}`;
  }

  /** A snapshot of the counters. */
  stats(): MockStats {
    return { requests: this.requests, byScenario: Object.fromEntries(this.byScenario), errors: this.errors };
  }

  /** Zeroes the counters and the attempts of scripted errors. */
  reset(): void {
    this.requests = 0;
    this.errors = 0;
    this.byScenario.clear();
    this.attempts.clear();
    this.embeddings.reset();
  }
}
