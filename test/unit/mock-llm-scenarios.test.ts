/**
 * The mock LLM's scenario files: a bad one stops startup naming the file and
 * the line (the served scenarios are in mock-llm.test.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../config/index.js';
import { startMockLlm } from '../../mock-llm/server.js';

const SCENARIOS_DIR = join(REPO_ROOT, 'mock-llm/scenarios');

describe('scenario loading', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mock-llm-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function scenarioDir(files: Record<string, string>): string {
    const sub = mkdtempSync(join(dir, 'case-'));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(sub, name), text);
    return sub;
  }

  it('rejects a bad scenario file naming the file and the line', async () => {
    const sub = scenarioDir({
      'broken.yaml': ['name: broken', 'turns:', '  - content: fine', '  - delay_ms: 10', ''].join('\n'),
    });
    await expect(startMockLlm({ scenariosDir: sub })).rejects.toThrow(
      /broken\.yaml:4: turns\.1: a turn needs at least one of content, tool_calls or error/,
    );
  });

  it('rejects inline regex flags and a name that differs from the file name', async () => {
    const flags = scenarioDir({ 'flags.yaml': "name: flags\nmatch: '(?i)hello'\nturns:\n  - content: x\n" });
    await expect(startMockLlm({ scenariosDir: flags })).rejects.toThrow(/flags\.yaml:2: match: inline flags/);
    const renamed = scenarioDir({ 'one.yaml': 'name: two\nturns:\n  - content: x\n' });
    await expect(startMockLlm({ scenariosDir: renamed })).rejects.toThrow(/one\.yaml:1: name: must be "one"/);
  });

  it('rejects duplicate names, naming both sources', async () => {
    const sub = scenarioDir({
      'twin.yaml': 'name: twin\nturns:\n  - content: a\n',
      'twin.yml': 'name: twin\nturns:\n  - content: b\n',
    });
    await expect(startMockLlm({ scenariosDir: sub })).rejects.toThrow(
      `Duplicate scenario name "twin" in ${join(sub, 'twin.yaml')} and ${join(sub, 'twin.yml')}`,
    );
    await expect(
      startMockLlm({ scenariosDir: SCENARIOS_DIR, scenarios: [{ name: 'flaky', turns: [{ content: 'x' }] }] }),
    ).rejects.toThrow(/flaky\.yaml and inline scenario #0/);
  });
});
