/**
 * The libraries every workflow shares instead of loading its own copy (the worker's `preloadModules`,
 * temporal/worker-options.ts): the shell policy's parser, bash-parser (with babylon for arithmetic), and
 * OpenTelemetry's semantic conventions (the workflow interceptors' spans and resource name attributes with them).
 *
 * The SDK runs all workflows of a worker in one V8 context and gives each workflow its own instance of every
 * module the bundle holds, so that module state cannot leak from one workflow into another; for the parser that
 * instance was a large part of a workflow's heap and of its creation time (bench/workflow-footprint.ts). The
 * parser keeps no state between calls (each parse builds its own lexer, AST builder and parser object), so one
 * copy gives every workflow the same answers (test/unit/workflow-shared-modules.test.ts); the semantic conventions
 * are string constants and frozen maps of them; the storage under OpenTelemetry's context in every workflow
 * (workflows/shared-async-storage.ts) is one for all by design.
 *
 * A shared module is loaded before any workflow exists, outside the workflow's deterministic Math.random and
 * Date, and the SDK then freezes what it exports. So:
 * - bash-parser's word splitter, shell-quote-word, draws Math.random at load for a value it never uses: the bundle
 *   drops that draw (temporal/bundle/shell-quote-word-loader.cjs);
 * - its generated grammar is not preloaded: it loads at a workflow's first parse, per workflow, because each parse
 *   writes to an object whose prototype is the grammar's, which a frozen grammar would refuse.
 * Zod is not in the bundle at all (domain/secret-names.ts): sharing it would share its global registry.
 * Our own modules stay per workflow.
 */
import parseBash from '@ericcornelissen/bash-parser';
// The two modules these names come from (webpack maps them past the package's index), as OpenTelemetry's span and
// resource code in the bundle import them: pure constants, but ~600 exports, each a getter per workflow.
import { SEMATTRS_EXCEPTION_MESSAGE, SEMRESATTRS_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
// Loaded here, before any workflow, so that its one storage is made outside every workflow and shared by all.
import { AsyncLocalStorage as MultiplexedAsyncLocalStorage } from './shared-async-storage.js';

export { MultiplexedAsyncLocalStorage, parseBash, SEMATTRS_EXCEPTION_MESSAGE, SEMRESATTRS_SERVICE_NAME };
