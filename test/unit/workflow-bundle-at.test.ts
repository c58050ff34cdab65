/** temporal/worker-options.ts workflowBundleAt: a worker's prebuilt bundle, passed to the SDK by path. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workflowBundleAt } from '../../temporal/worker-options.js';

describe('workflowBundleAt', () => {
  it('answers the absolute path (the SDK then keeps the code as read, no patched copy) and no code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bundle-at-'));
    try {
      const file = join(dir, 'workflow-bundle.js');
      writeFileSync(file, 'var __TEMPORAL__;');
      expect(await workflowBundleAt(relative(process.cwd(), file))).toEqual({ codePath: file });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops the start naming the variable when the file is missing', async () => {
    await expect(workflowBundleAt('/nonexistent/workflow-bundle.js')).rejects.toThrow(/\/nonexistent\/workflow-bundle\.js \(WORKFLOW_BUNDLE_PATH\) is not readable: ENOENT/);
  });
});
