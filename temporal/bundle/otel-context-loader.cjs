/**
 * A webpack loader for the workflow bundle, applied to OpenTelemetry's workflow context manager only
 * (@temporalio/interceptors-opentelemetry/lib/workflow/context-manager.js; temporal/worker-options.ts).
 *
 * The context manager makes an AsyncLocalStorage of its own in each workflow. This makes it a multiplexed one
 * (workflows/shared-async-storage.ts, option `storage`: one storage under every workflow's), the same store per
 * workflow at a promise's cost of one property instead of one per cached workflow. If a new version makes its
 * storage differently, the bundle fails here rather than keep the cost unnoticed.
 */
'use strict';

const MAKE = 'storage = new globalThis.AsyncLocalStorage();';

module.exports = function otelContextLoader(source) {
  const { storage } = this.getOptions();
  if (source.split(MAKE).length !== 2 || source.split('globalThis.AsyncLocalStorage').length !== 2) {
    throw new Error(
      `${this.resourcePath}: OpenTelemetry's workflow context manager no longer matches what temporal/bundle/otel-context-loader.cjs expects (one \`${MAKE}\`); check the new version`,
    );
  }
  return source.replace(MAKE, `storage = new (require(${JSON.stringify(storage)}).AsyncLocalStorage)();`);
};
