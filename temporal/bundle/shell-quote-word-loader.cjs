/**
 * A webpack loader for the workflow bundle, applied to shell-quote-word only (temporal/worker-options.ts).
 *
 * shell-quote-word (bash-parser's word splitter) builds a `TOKEN` from four Math.random() draws when it loads, and
 * never reads it. The workflows share bash-parser (workflows/shared-modules.ts), which loads it before any workflow
 * exists, where the SDK's Math.random throws. This drops the draws: the module then loads the same everywhere.
 * If a new version reads TOKEN, or draws it differently, the bundle fails here rather than change what it does.
 */
'use strict';

const DRAW = 'TOKEN += (Math.pow(16, 8) * Math.random()).toString(16);';

module.exports = function shellQuoteWordLoader(source) {
  // The declaration and the draw: no third mention, so nothing reads it.
  if (!source.includes(DRAW) || source.split('TOKEN').length !== 3) {
    throw new Error(
      `${this.resourcePath}: shell-quote-word no longer matches what temporal/bundle/shell-quote-word-loader.cjs expects (an unused TOKEN drawn from Math.random); check the new version before sharing it across workflows`,
    );
  }
  return source.replace(DRAW, 'TOKEN += (Math.pow(16, 8) * 0).toString(16);');
};
