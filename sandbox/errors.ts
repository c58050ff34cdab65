/** The errors of the sandbox layer, by who should hear about them. */

/** A tool failure the model should see (bad path, missing file): not an infrastructure fault. */
export class SandboxToolError extends Error {
  override readonly name = 'SandboxToolError';
}

/** The sandbox container is gone (removed, stopped, its engine restarted): the session needs a new one. */
export class SandboxGoneError extends Error {
  override readonly name = 'SandboxGoneError';
}

/** An error in what a caller asked for (not in the engine): a clear message, never retried. */
export class SandboxRequestError extends Error {
  override readonly name = 'SandboxRequestError';
}
