/**
 * The names of every tool a model can be offered. Pure: the policy decides
 * on these names (policies/evaluate.ts), the sandbox defines and parses the
 * tools (sandbox/tools.ts, sandbox/artifact-tools.ts) and the workflow
 * offers them, so the names sit below all three.
 */
import type { ToolName } from './schema.js';

/**
 * The tool that asks for a host at the egress proxy. Not a policy `tools`
 * entry: it is offered when the policy lists `network.approve` hosts, and the
 * policy's `network` section (not its rules) decides each call.
 */
export const REQUEST_NETWORK = 'request_network';
/** Reads a page of a stored artifact; offered with `shell`. */
export const READ_ARTIFACT = 'read_artifact';
/** Keeps a workspace file as a result of the session; offered with `shell`. */
export const SAVE_RESULT = 'save_result';
export type ArtifactToolName = typeof READ_ARTIFACT | typeof SAVE_RESULT;

/** Every tool a model can be offered. */
export type SessionToolName = ToolName | typeof REQUEST_NETWORK | ArtifactToolName;
