/**
 * One AsyncLocalStorage under the stores of every workflow of a worker (shared through workflows/shared-modules.ts),
 * for OpenTelemetry's workflow context manager, which makes one per workflow (temporal/bundle/otel-context-loader.cjs).
 *
 * Why: Node (20) copies the store of every enabled AsyncLocalStorage of a thread onto every promise the thread
 * creates, one property each. The SDK runs all cached workflows in one thread, and each workflow's context manager
 * enabled a storage of its own, so with 200 cached sessions every promise of every workflow carried 200 properties:
 * memory and time per promise that grew with the cache (a dictionary of ~20 KB per pending promise at 200).
 * Multiplexed over one storage, a promise carries one.
 *
 * Each instance is its own key in an immutable frame (a Map from instance to store) that the shared storage holds:
 * `run` copies the frame with this instance's store set, so the stores of two instances, and of two workflows, stay
 * apart exactly as with one storage each. A frame holds only the keys of the code that ran it: a workflow's
 * activation starts with no frame, and its promises carry only frames its own code made.
 */
import { AsyncLocalStorage as SdkAsyncLocalStorage } from '@temporalio/workflow/lib/cancellation-scope.js';

/** What a workflow's AsyncLocalStorage offers (the part OpenTelemetry's context manager uses). */
export interface WorkflowStorage<T> {
  run<R, A extends unknown[]>(store: T, fn: (...args: A) => R, ...args: A): R;
  getStore(): T | undefined;
  disable(): void;
}

type Frame = ReadonlyMap<object, unknown>;

/** Storages multiplexed over one instance of `Base` (the SDK's AsyncLocalStorage in a workflow; Node's in a test). */
export function multiplexedStorage(Base: new <T>() => WorkflowStorage<T>): new <T>() => WorkflowStorage<T> {
  // Made when the module loads: before any workflow when shared, so no workflow's disposal disables it.
  const frames = new Base<Frame>();
  return class MultiplexedAsyncLocalStorage<T> implements WorkflowStorage<T> {
    #enabled = true;

    run<R, A extends unknown[]>(store: T, fn: (...args: A) => R, ...args: A): R {
      this.#enabled = true;
      const frame = new Map(frames.getStore());
      frame.set(this, store);
      return frames.run(frame, fn, ...args);
    }

    getStore(): T | undefined {
      return this.#enabled ? (frames.getStore()?.get(this) as T | undefined) : undefined;
    }

    /** As Node's: getStore answers undefined until the next run. */
    disable(): void {
      this.#enabled = false;
    }
  };
}

export const AsyncLocalStorage = multiplexedStorage(SdkAsyncLocalStorage);
