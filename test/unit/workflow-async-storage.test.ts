/**
 * The storage under OpenTelemetry's context in every workflow (workflows/shared-async-storage.ts): each instance keeps
 * its own store as a Node AsyncLocalStorage would, across awaits and timers, and however many are in use a promise
 * carries the properties of one; in the production bundle, a worker's cached sessions no longer add a property each
 * to every promise (temporal/bundle/otel-context-loader.cjs), and the loader refuses a context manager it does not know.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotPolicy } from '../../policies/load.js';
import { policySchema } from '../../policies/schema.js';
import { loadWorkflowBundle } from '../../temporal/worker-options.js';
import { multiplexedStorage } from '../../workflows/shared-async-storage.js';
import { workflowContext, type WorkflowContext } from '../support/workflow-context.js';

/** Properties Node's storages put on a promise made now (one per enabled AsyncLocalStorage of the thread). */
const promiseProperties = () => Object.getOwnPropertySymbols(Promise.resolve()).length;

describe('a multiplexed AsyncLocalStorage', () => {
  const Storage = multiplexedStorage(AsyncLocalStorage);

  it('keeps each instance\'s store apart, through nested runs, awaits and timers, and restores it after a throw', async () => {
    const a = new Storage<string>();
    const b = new Storage<string>();
    expect(a.getStore()).toBeUndefined();
    const seen = await a.run('a1', async (x: number) => {
      const inner = await b.run('b1', async () => {
        await sleep(1);
        return [a.getStore(), b.getStore()];
      });
      const nested = a.run('a2', () => [a.getStore(), b.getStore()]);
      await new Promise((resolve) => setTimeout(resolve, 1));
      expect(() => a.run('a3', () => { throw new Error('boom'); })).toThrow('boom');
      return [x, inner, nested, a.getStore(), b.getStore()];
    }, 7);
    expect(seen).toEqual([7, ['a1', 'b1'], ['a2', undefined], 'a1', undefined]);
    expect(a.getStore()).toBeUndefined();
  });

  it('answers undefined once disabled, until it runs again; another instance is not affected', async () => {
    const a = new Storage<string>();
    const b = new Storage<string>();
    await a.run('a', () => b.run('b', async () => {
      a.disable();
      await sleep(1);
      expect([a.getStore(), b.getStore()]).toEqual([undefined, 'b']);
      expect(a.run('again', () => a.getStore())).toBe('again');
    }));
  });

  it('puts one property on a promise however many instances are in use (Node\'s own: one per instance)', async () => {
    const base = promiseProperties();
    const multiplexed = Array.from({ length: 40 }, () => new Storage<number>());
    await Promise.all(multiplexed.map((s, i) => s.run(i, async () => { await sleep(1); expect(s.getStore()).toBe(i); })));
    expect(promiseProperties()).toBeLessThanOrEqual(base + 1);
    // The cost it removes: Node's storages, one property per enabled instance.
    const own = Array.from({ length: 40 }, () => new AsyncLocalStorage<number>());
    for (const [i, s] of own.entries()) s.run(i, () => undefined);
    expect(promiseProperties()).toBeGreaterThanOrEqual(base + 40);
    for (const s of own) s.disable();
  });
});

describe('the production bundle', () => {
  let context: WorkflowContext;
  beforeAll(async () => {
    context = await workflowContext((await loadWorkflowBundle()).code);
  }, 120_000);
  afterAll(async () => {
    await context?.destroy();
  });

  it('a promise carries as many properties with 40 started sessions as with 2 (it carried one more per session)', async () => {
    const policy = snapshotPolicy(policySchema.parse({ name: 'p', rules: [] }));
    const started = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const completion = (await context.startSession(`ses_storage-${i}`, policy)) as { failed?: unknown };
        expect(completion.failed).toBeUndefined();
      }
      return promiseProperties();
    };
    const withTwo = await started(0, 2);
    expect(await started(2, 40)).toBe(withTwo);
  });
});

describe('the OpenTelemetry context loader', () => {
  const require = createRequire(import.meta.url);
  const loader = require('../../temporal/bundle/otel-context-loader.cjs') as (this: unknown, source: string) => string;
  const source = readFileSync(require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow/context-manager.js'), 'utf8');
  const run = (text: string) => loader.call({ resourcePath: '/x/context-manager.js', getOptions: () => ({ storage: '/s/shared.ts' }) }, text);

  it('makes the installed version\'s storage a multiplexed one and changes nothing else', () => {
    const out = run(source);
    expect(out).not.toContain('globalThis.AsyncLocalStorage');
    expect(out).toContain('storage = new (require("/s/shared.ts").AsyncLocalStorage)();');
    expect(out.split('\n').filter((line, i) => line !== source.split('\n')[i])).toHaveLength(1);
  });

  it('refuses a version that makes its storage another way', () => {
    expect(() => run(source.replace('storage = new globalThis.AsyncLocalStorage();', 'storage = makeStorage();'))).toThrow(/no longer matches/);
    expect(() => run(`${source}\nconst other = new globalThis.AsyncLocalStorage();`)).toThrow(/\/x\/context-manager\.js/);
  });
});
