/**
 * Scenario files of the mock LLM: what each model call since the last user
 * message answers. One scenario per `<name>.yaml` file, validated with zod;
 * a bad file stops the server with the file, line and path of the fault.
 */
import { readdirSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { z } from 'zod';
import { loadYamlFile } from '../config/yaml.js';

/** Checks that `source` compiles as a case-insensitive JS regex; the reason otherwise. */
function regexProblem(source: string): string | undefined {
  if (/^\(\?[a-z]+\)/.test(source)) {
    return 'inline flags such as (?i) are not supported; matching is always case-insensitive';
  }
  try {
    new RegExp(source, 'i');
    return undefined;
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
}

const toolCallSchema = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, underscore and dash (at most 64)'),
    /** Sent as `JSON.stringify(arguments)`, after templates are applied to its string values. */
    arguments: z.record(z.string(), z.unknown()).optional(),
    /** Sent verbatim, without templates: for malformed-JSON tests. */
    arguments_raw: z.string().optional(),
  })
  .strict()
  .refine((call) => call.arguments === undefined || call.arguments_raw === undefined, {
    message: 'give either arguments or arguments_raw, not both',
  });

const errorSchema = z
  .object({
    status: z.number().int().min(400).max(599).default(500),
    message: z.string().min(1).default('mock upstream error'),
    type: z.string().min(1).default('server_error'),
    /** The first `times` attempts of the same request fail; without it every attempt fails. */
    times: z.number().int().positive().optional(),
  })
  .strict();

const usageSchema = z
  .object({
    prompt_tokens: z.number().int().nonnegative().optional(),
    completion_tokens: z.number().int().nonnegative().optional(),
  })
  .strict();

const turnSchema = z
  .object({
    content: z.string().optional(),
    tool_calls: z.array(toolCallSchema).min(1).optional(),
    delay_ms: z.number().int().nonnegative().max(600_000).optional(),
    /** Played this many times; a request's `metadata.repeat` overrides it. */
    repeat: z.number().int().positive().optional(),
    error: errorSchema.optional(),
    usage: usageSchema.optional(),
  })
  .strict()
  .refine((t) => t.content !== undefined || t.tool_calls !== undefined || t.error !== undefined, {
    message: 'a turn needs at least one of content, tool_calls or error',
  })
  .refine((t) => t.error?.times === undefined || t.content !== undefined || t.tool_calls !== undefined, {
    message: 'error.times needs content or tool_calls to answer once the failures are spent',
    path: ['error', 'times'],
  });

/** The schema of one scenario file. */
export const scenarioSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and dashes'),
    description: z.string().optional(),
    /** Tested, case-insensitively, against the last user message. */
    match: z
      .string()
      .min(1)
      .optional()
      .superRefine((source, ctx) => {
        const problem = source === undefined ? undefined : regexProblem(source);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    turns: z.array(turnSchema).min(1),
  })
  .strict();

/** A validated scenario. */
export type Scenario = z.infer<typeof scenarioSchema>;
/** A scenario as written by hand, before defaults; every `Scenario` is one too. */
export type ScenarioInput = z.input<typeof scenarioSchema>;
/** One model answer of a scenario. */
export type ScenarioTurn = Scenario['turns'][number];
/** One tool call of a turn. */
export type ScenarioToolCall = NonNullable<ScenarioTurn['tool_calls']>[number];
/** A scripted failure of a turn. */
export type ScenarioError = NonNullable<ScenarioTurn['error']>;

/** A scenario and where it came from (a file path, or a label for inline ones). */
export interface SourcedScenario {
  readonly source: string;
  readonly scenario: Scenario;
}

const SCENARIO_EXTENSIONS = new Set(['.yaml', '.yml']);

/** Loads one scenario file; its `name` must equal the file's base name. Throws YamlFileError. */
export function loadScenarioFile(file: string): Scenario {
  const expected = basename(file, extname(file));
  const schema = scenarioSchema.refine((s) => s.name === expected, {
    message: `must be "${expected}", the file's name`,
    path: ['name'],
  });
  return loadYamlFile(file, schema);
}

/** Loads every `*.yaml` / `*.yml` file of `dir`, sorted by file name. */
export function loadScenariosDir(dir: string): SourcedScenario[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && SCENARIO_EXTENSIONS.has(extname(entry.name)))
    .map((entry) => entry.name)
    .sort()
    .map((name) => {
      const source = join(dir, name);
      return { source, scenario: loadScenarioFile(source) };
    });
}

/** Throws, naming both sources, when two scenarios share a name. */
export function assertUniqueNames(scenarios: readonly SourcedScenario[]): void {
  const seen = new Map<string, string>();
  for (const { source, scenario } of scenarios) {
    const first = seen.get(scenario.name);
    if (first !== undefined) {
      throw new Error(`Duplicate scenario name "${scenario.name}" in ${first} and ${source}`);
    }
    seen.set(scenario.name, source);
  }
}
