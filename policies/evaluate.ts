/**
 * Policy evaluation: a pure, deterministic function of the policy snapshot
 * pinned into the workflow and one tool call. Runs inside workflow code, so it
 * imports nothing with side effects.
 */
import type { Policy, PolicyRule, ToolName } from './schema.js';
import { analyzeShell, type ShellAnalysis } from './shell-parse.js';
import { coversRequest, hostPatterns } from './host-patterns.js';
import { READ_ARTIFACT, REQUEST_NETWORK, SAVE_RESULT, type SessionToolName } from './tool-names.js';
import { BROWSER_TOOL, browserActionHost, checkBrowserUrl } from './browser-url.js';

/** What the policy says about one tool call. */
export type Decision =
  | { readonly action: 'allow'; readonly ruleId: string }
  | { readonly action: 'deny'; readonly ruleId: string; readonly reason: string }
  | {
      readonly action: 'approve';
      readonly ruleId: string;
      readonly risk: PolicyRule['risk'];
      readonly reason: string;
      /** Distinct approvers needed in all (at least one per required role). */
      readonly approvers: number;
      /** One distinct approver per entry must hold that role. */
      readonly roles: readonly string[];
      /** May never decide (besides the requester). */
      readonly excludedApprovers: readonly string[];
      readonly timeoutMs: number;
      readonly onTimeout: 'deny' | 'fail';
      readonly slackChannel: string | null;
    };

/** A tool call as the policy sees it (arguments already parsed). */
export interface ToolCallForPolicy {
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
}

/** What the workflow knows beside the call: the URL of the browser's page, from the last browser result. */
export interface PolicyContext {
  readonly pageUrl?: string | undefined;
}

/** Commands and paths longer than this are judged on their first part only; the tool refuses them anyway. */
const MAX_SUBJECT_LENGTH = 64 * 1024;

/** Matches a workspace-relative path against a glob: `*` within a segment, `**` across segments, `?` one char. */
export function globMatch(glob: string, path: string): boolean {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i] as string;
    if (ch === '*') {
      if (glob[i + 1] === '*') {
        re += '.*';
        i++;
        if (glob[i + 1] === '/') i++;
      } else {
        re += '[^/]*';
      }
    } else if (ch === '?') {
      re += '[^/]';
    } else {
      re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`${re}$`).test(path.replace(/^\.?\//, ''));
}

/** UTF-8 byte length, computed without TextEncoder so that it runs the same everywhere. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return bytes;
}

/** Hosts a shell command names: in URLs (`https://host/`, `git://host`) and scp-style `user@host:`. */
export function hostsIn(command: string): string[] {
  const hosts = new Set<string>();
  for (const m of command.matchAll(/[a-z][a-z0-9+.-]*:\/\/(?:[^@/\s'"]*@)?([a-z0-9.-]+)/gi)) hosts.add((m[1] as string).toLowerCase());
  for (const m of command.matchAll(/(?:^|[\s'"])[\w.-]+@([a-z0-9.-]+):/gi)) hosts.add((m[1] as string).toLowerCase());
  return [...hosts];
}

function hostGlobMatch(glob: string, host: string): boolean {
  const re = glob.toLowerCase().replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[a-z0-9.-]*').replace(/\?/g, '[a-z0-9-]');
  return new RegExp(`^${re}$`).test(host);
}

function ruleName(rule: PolicyRule, index: number): string {
  return rule.id ?? `rules[${index}]`;
}

/** One tool call being decided: the shell parse is made once, on first need. */
class Subject {
  #analysis: ShellAnalysis | undefined;
  constructor(
    readonly call: ToolCallForPolicy,
    readonly parse: boolean,
    readonly context: PolicyContext = {},
  ) {}

  get isBrowser(): boolean {
    return this.call.name === BROWSER_TOOL;
  }

  get command(): string | undefined {
    const command = this.call.arguments.command;
    return typeof command === 'string' ? command : undefined;
  }

  get analysis(): ShellAnalysis {
    this.#analysis ??= analyzeShell(this.command ?? '');
    return this.#analysis;
  }

  /** The texts a command pattern is tried on: the command as written, then (parsed) each simple command unquoted. */
  commandTexts(): string[] {
    const command = this.command;
    if (command === undefined) return [];
    const raw = command.slice(0, MAX_SUBJECT_LENGTH);
    return this.parse ? [raw, ...this.analysis.commands.map((words) => words.join(' '))] : [raw];
  }
}

function matches(rule: PolicyRule, subject: Subject): boolean {
  const call = subject.call;
  if (rule.tool !== '*' && rule.tool !== call.name) return false;
  const m = rule.match;
  if (!m) return true;
  if (m.command !== undefined) {
    const re = new RegExp(m.command);
    if (!subject.commandTexts().some((text) => re.test(text))) return false;
  }
  if (m.shellClass !== undefined) {
    const classes = m.shellClass;
    if (subject.command === undefined || !subject.analysis.classes.some((c) => classes.includes(c))) return false;
  }
  if (m.path !== undefined) {
    const path = call.arguments.path;
    if (typeof path !== 'string' || !globMatch(m.path, path.slice(0, MAX_SUBJECT_LENGTH))) return false;
  }
  if (m.browserAction !== undefined) {
    const action = call.arguments.action;
    if (!subject.isBrowser || typeof action !== 'string' || !(m.browserAction as readonly string[]).includes(action)) return false;
  }
  if (m.host !== undefined) {
    const glob = m.host;
    if (subject.isBrowser) {
      // The host the action works on: a goto's target, else the page the model last saw.
      const host = browserActionHost(call.arguments, subject.context.pageUrl);
      if (host === undefined || !hostGlobMatch(glob, host)) return false;
    } else if (!subject.commandTexts().some((text) => hostsIn(text).some((h) => hostGlobMatch(glob, h)))) return false;
  }
  if (m.minBytes !== undefined) {
    const content = call.arguments.content;
    const bytes = typeof content === 'string' ? utf8Length(content) : 0;
    if (bytes <= m.minBytes) return false;
  }
  return true;
}

/** The approval settings of a gate: the policy's defaults, then the rule's (or network.approval's) over them. */
function approveDecision(
  policy: Policy,
  ruleId: string,
  risk: PolicyRule['risk'],
  reason: string,
  over: Partial<Policy['approval']> | undefined,
): Extract<Decision, { action: 'approve' }> {
  const approval = { ...policy.approval, ...over };
  // Snapshots pinned by older versions lack the newer fields: read them as their defaults.
  const roles = approval.roles ?? [];
  return {
    action: 'approve',
    ruleId,
    risk,
    reason,
    approvers: Math.max(approval.approvers, roles.length),
    roles,
    excludedApprovers: approval.excludedApprovers ?? [],
    timeoutMs: approval.timeout,
    onTimeout: approval.onTimeout,
    slackChannel: approval.slack?.channel ?? null,
  };
}

/**
 * request_network is decided by the policy's `network` section alone: a host
 * `allow` covers is granted, one `approve` covers waits on a gate, any other is
 * denied. (Rules judge what a command says; only the proxy sees where traffic goes.)
 */
function evaluateNetworkRequest(policy: Policy, call: ToolCallForPolicy): Decision {
  const host = call.arguments.host;
  const port = call.arguments.port;
  if (typeof host !== 'string' || (port !== undefined && typeof port !== 'number')) {
    return { action: 'deny', ruleId: 'network', reason: 'request_network needs a host' };
  }
  const target = port === undefined ? `${host} (ports 80 and 443)` : `${host}:${port}`;
  const network = policy.network;
  if (coversRequest(hostPatterns(network.allow), host, port)) return { action: 'allow', ruleId: 'network.allow' };
  if (coversRequest(hostPatterns([...network.allow, ...(network.approve ?? [])]), host, port)) {
    return approveDecision(policy, 'network.approve', network.risk ?? 'medium', `network access to ${target}`, network.approval);
  }
  return { action: 'deny', ruleId: 'network', reason: `${target} is neither in network.allow nor in network.approve of this policy` };
}

/** The tools the model is offered: the policy's, and request_network when the policy has hosts to approve. */
export function offeredTools(policy: Policy): readonly SessionToolName[] {
  const tools: SessionToolName[] = (policy.network.approve ?? []).length > 0 ? [...policy.tools, REQUEST_NETWORK] : [...policy.tools];
  // With shell come the artifact tools: reading back an output cut at the cap, keeping a file as a result.
  if (tools.includes('shell')) tools.push(READ_ARTIFACT, SAVE_RESULT);
  return tools;
}

/**
 * Decides one tool call. Tools the policy does not offer are denied before any rule; so is a browser goto
 * to a URL the browser may never load (policies/browser-url.ts), whatever the rules say.
 */
export function evaluatePolicy(policy: Policy, call: ToolCallForPolicy, context: PolicyContext = {}): Decision {
  if (call.name === REQUEST_NETWORK) return evaluateNetworkRequest(policy, call);
  // They read this session's own artifacts and store a workspace file for it: nothing leaves, nothing changes.
  if ((call.name === READ_ARTIFACT || call.name === SAVE_RESULT) && policy.tools.includes('shell')) return { action: 'allow', ruleId: 'artifacts' };
  if (!(policy.tools as readonly string[]).includes(call.name)) {
    return { action: 'deny', ruleId: 'tools', reason: `tool "${call.name}" is not allowed for this agent` };
  }
  if (call.name === BROWSER_TOOL && call.arguments.action === 'goto') {
    const verdict = checkBrowserUrl(call.arguments.url, { network: policy.network });
    if (!verdict.ok) return { action: 'deny', ruleId: 'browser.url', reason: verdict.reason };
  }
  // Snapshots pinned before `shellParse` existed lack it: they keep matching the raw text only.
  const subject = new Subject(call, policy.shellParse === true, context);
  const index = policy.rules.findIndex((rule) => matches(rule, subject));
  const rule = index >= 0 ? policy.rules[index] : undefined;
  const action = rule ? rule.action : policy.default;
  const ruleId = rule ? ruleName(rule, index) : 'default';
  const reason = rule?.reason ?? (rule ? `rule ${ruleId}` : 'no rule matched');
  switch (action) {
    case 'allow':
      return { action, ruleId };
    case 'deny':
      return { action, ruleId, reason };
    case 'approve':
      return approveDecision(policy, ruleId, rule?.risk ?? 'high', reason, rule?.approval);
  }
}

export type { Policy, ToolName };

/**
 * A shell call that asks for secrets to be mounted always passes a gate: a
 * denied call stays denied; an allowed one waits on the policy's default
 * approval (rule `secrets.mount`, high risk); one the rules already gate
 * keeps its rule's approval, its reason naming the secrets too.
 */
export function secretMountDecision(policy: Policy, decision: Decision, mounts: readonly { name: string; path: string }[]): Decision {
  if (decision.action === 'deny' || mounts.length === 0) return decision;
  const what = `mounts secret ${mounts.map((m) => `${m.name} at ${m.path}`).join(', ')} for this call only`;
  if (decision.action === 'approve') return { ...decision, reason: `${decision.reason}; ${what}` };
  return approveDecision(policy, 'secrets.mount', 'high', what, undefined);
}
