/**
 * How the mock LLM plays a scenario: reads the conversation, selects the
 * scenario and the turn (expanding `repeat`), renders its templates and
 * builds the answer, or throws the turn's scripted error.
 */
import { createHash } from 'node:crypto';
import type { Scenario, ScenarioToolCall, ScenarioTurn } from './scenario-schema.js';
import { MockApiError, valueAt, type ChatMessage, type ChatRequest } from './request.js';
import type { MockLlmState } from './state.js';

/** What a scenario reads from the messages of a request. */
export interface Conversation {
  /** Text of the last user message ('' when there is none). */
  user: string;
  /** Content of the last tool message, if any. */
  tool: string | undefined;
  /** Assistant messages after the last user message: the index of the turn to play. */
  turn: number;
}

function messageText(message: ChatMessage): string {
  const { content } = message;
  if (typeof content === 'string') return content;
  return (content ?? []).map((part) => part.text).join('');
}

/** The last user message, the last tool output and the turn to play. */
export function readConversation(messages: readonly ChatMessage[]): Conversation {
  const lastUser = messages.findLastIndex((m) => m.role === 'user');
  const lastTool = messages.findLast((m) => m.role === 'tool');
  const userMessage = messages[lastUser];
  return {
    user: userMessage ? messageText(userMessage) : '',
    tool: lastTool ? messageText(lastTool) : undefined,
    turn: messages.slice(lastUser + 1).filter((m) => m.role === 'assistant').length,
  };
}

/** The scenarios of one app, by name and in matching order. */
export interface Catalog {
  readonly byName: ReadonlyMap<string, Scenario>;
  /** Sorted by name: the order in which `match` regexes are tried. */
  readonly matchers: readonly { scenario: Scenario; regex: RegExp }[];
}

const ECHO_SCENARIO: Scenario = { name: '(echo)', turns: [{ content: 'You said: {{user}}' }] };

/** Indexes scenarios by name and compiles their `match` regexes (case-insensitive). */
export function buildCatalog(scenarios: readonly Scenario[]): Catalog {
  const sorted = [...scenarios].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    byName: new Map(sorted.map((s) => [s.name, s])),
    matchers: sorted.flatMap((s) => (s.match === undefined ? [] : [{ scenario: s, regex: new RegExp(s.match, 'i') }])),
  };
}

function namedScenario(catalog: Catalog, name: string, param: string): Scenario {
  const scenario = catalog.byName.get(name);
  if (!scenario) {
    const known = [...catalog.byName.keys()].join(', ') || '(none)';
    const message = `Unknown mock scenario "${name}" (from ${param}); known: ${known}`;
    throw new MockApiError(400, message, 'invalid_request_error', param);
  }
  return scenario;
}

/** metadata.scenario → model `mock/<name>` → first matching regex → `default` → built-in echo. */
export function selectScenario(catalog: Catalog, body: ChatRequest, userText: string): Scenario {
  const fromMetadata = body.metadata?.scenario;
  if (fromMetadata !== undefined) return namedScenario(catalog, fromMetadata, 'metadata.scenario');
  if (body.model.startsWith('mock/')) return namedScenario(catalog, body.model.slice('mock/'.length), 'model');
  const matched = catalog.matchers.find((m) => m.regex.test(userText));
  return matched?.scenario ?? catalog.byName.get('default') ?? ECHO_SCENARIO;
}

/** The turn played at `index`, expanding `repeat` (overridden by `metadata.repeat` where declared). */
export function turnAt(scenario: Scenario, index: number, repeatOverride: number | undefined): ScenarioTurn | undefined {
  let start = 0;
  for (const turn of scenario.turns) {
    const times = turn.repeat === undefined ? 1 : (repeatOverride ?? turn.repeat);
    if (index < start + times) return turn;
    start += times;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// Templates: {{user}}, {{tool}}, {{tool.<field>}}, {{turn}}

/** What the placeholders of a turn are filled from. */
export interface TemplateContext {
  user: string;
  tool: string | undefined;
  turn: number;
}

function toolField(tool: string | undefined, path: string): string {
  if (tool === undefined) return '';
  let value: unknown;
  try {
    value = JSON.parse(tool);
  } catch {
    return '';
  }
  value = valueAt(value, path.split('.'));
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Replaces the placeholders of `text`; unknown placeholders are left as written. */
function renderTemplate(text: string, ctx: TemplateContext): string {
  return text.replace(/\{\{\s*(user|turn|tool)(?:\.([A-Za-z0-9_.-]+))?\s*\}\}/g, (whole, key: string, field?: string) => {
    if (key === 'tool') return field === undefined ? (ctx.tool ?? '') : toolField(ctx.tool, field);
    if (field !== undefined) return whole;
    return key === 'user' ? ctx.user : String(ctx.turn);
  });
}

/** Applies templates to every string inside a JSON-like value. */
function renderValue(value: unknown, ctx: TemplateContext): unknown {
  if (typeof value === 'string') return renderTemplate(value, ctx);
  if (Array.isArray(value)) return value.map((v) => renderValue(v, ctx));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, ctx)]));
  }
  return value;
}

// ---------------------------------------------------------------------------
// Answers

interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

interface AnswerToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** One answer, before it is put in a wire format. */
export interface Answer {
  content: string | null;
  toolCalls: AnswerToolCall[];
  finishReason: 'stop' | 'tool_calls';
  usage: Usage;
}

/** Roughly four characters a token, at least one. */
function tokens(chars: number): number {
  return Math.max(1, Math.ceil(chars / 4));
}

function promptChars(messages: readonly ChatMessage[]): number {
  return messages.reduce(
    (sum, m) =>
      sum + messageText(m).length + (m.tool_calls ?? []).reduce((s, call) => s + call.function.arguments.length, 0),
    0,
  );
}

function renderToolCall(call: ScenarioToolCall, index: number, ctx: TemplateContext): AnswerToolCall {
  const args = call.arguments_raw ?? JSON.stringify(renderValue(call.arguments ?? {}, ctx));
  return { id: `call_${ctx.turn}_${index}`, name: call.name, arguments: args };
}

/** The answer of `turn` with its templates rendered and its usage (scripted or estimated). */
export function buildAnswer(
  scenario: Scenario,
  turn: ScenarioTurn | undefined,
  ctx: TemplateContext,
  messages: readonly ChatMessage[],
): Answer {
  const content =
    turn === undefined
      ? `(scenario ${scenario.name} has no turn ${ctx.turn})`
      : turn.content === undefined
        ? null
        : renderTemplate(turn.content, ctx);
  const toolCalls = (turn?.tool_calls ?? []).map((call, i) => renderToolCall(call, i, ctx));
  const answerChars = (content ?? '').length + toolCalls.reduce((s, call) => s + call.arguments.length, 0);
  const prompt = turn?.usage?.prompt_tokens ?? tokens(promptChars(messages));
  const completion = turn?.usage?.completion_tokens ?? tokens(answerChars);
  return {
    // A turn with only a spent scripted error still answers something.
    content: content ?? (toolCalls.length === 0 ? '' : null),
    toolCalls,
    finishReason: toolCalls.length > 0 ? 'tool_calls' : 'stop',
    usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
  };
}

/** Throws the scripted error of `turn` while its attempts are not spent. */
export function playScriptedError(
  state: MockLlmState,
  scenario: Scenario,
  turn: ScenarioTurn | undefined,
  ctx: TemplateContext,
  messages: readonly ChatMessage[],
): void {
  const error = turn?.error;
  if (!error) return;
  const digest = createHash('sha256').update(JSON.stringify(messages)).digest('hex');
  const attempt = state.attempt(`${scenario.name}\u0000${ctx.turn}\u0000${digest}`);
  if (error.times === undefined || attempt <= error.times) {
    throw new MockApiError(error.status, error.message, error.type);
  }
}
