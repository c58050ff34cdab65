/**
 * The libraries every workflow shares instead of loading its own copy (the worker's `preloadModules`,
 * temporal/worker-options.ts).
 *
 * The SDK runs all workflows of a worker in one V8 context and gives each workflow its own instance of
 * every module the bundle holds, so that module state cannot leak from one workflow into another. For
 * zod and the shell parser that instance is most of a workflow's cost: 1.1 MB of heap and its build time
 * for each workflow the worker starts or replays, where sharing them leaves 0.4 MB (bench/workflow-footprint.ts).
 * Both are stateless between calls. Zod keeps one global configuration and a schema registry,
 * and bash-parser is a pure function of its input, so one copy gives every workflow the same answers.
 *
 * A shared module is loaded before any workflow exists, outside the workflow's deterministic
 * Math.random and Date, and the SDK then freezes everything it exports. So everything here must be
 * settled before that:
 * - zod sets its default locale and its memoizer, and tests once whether it may compile parsers
 *   with `new Function` (`allowsEval`), on first use: done below, or the first schema a workflow
 *   builds would write to the frozen configuration;
 * - bash-parser's dependency shell-quote-word draws Math.random at load for a value it never uses:
 *   the bundle drops that draw (temporal/bundle/shell-quote-word-loader.cjs).
 * Our own modules stay per workflow: their schemas are built at load and zod caches on them later,
 * which a frozen object refuses.
 */
import parseBash from '@ericcornelissen/bash-parser';
import { z } from 'zod';

z.config(z.locales.en());
z.config({ memoizer: z.core.memoizer() });
void z.core.util.allowsEval.value;

export { parseBash, z };
