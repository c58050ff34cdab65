/**
 * `npm run kortix -- agents ls|show|diff|promote`: a thin command line over
 * the Agent Builder API (it only calls routes and prints their answers).
 * Reads KORTIX_API, KORTIX_TENANT (as `source .data/dev-keys.env` sets them)
 * and KORTIX_KEY (a principal's key, e.g. `KORTIX_KEY=$ALICE_KEY`).
 *
 *   agents ls
 *   agents show <agent> [<version>]          labels, or one version's YAML
 *   agents diff <agent> <from> <to>          prompt and YAML diffs, and the promotion risk
 *   agents promote <agent> <version> --why "<text>" [--label production]
 *
 * `archive ls|restore <YYYY-MM>` and `retention show|set|hold|release`: see scripts/kortix-archive.ts.
 */
import { parseArgs } from 'node:util';
import { KeyringError } from '../temporal/codec/keyring.js';
import { keysCommand } from './lib/payload-keys-cli.js';
import { ARCHIVE_USAGE, archiveMain } from './kortix-archive.js';

const USAGE = 'usage: kortix agents ls | show <agent> [<version>] | diff <agent> <from> <to> | promote <agent> <version> --why <text> [--label <label>]';

interface Env {
  readonly api: string;
  readonly tenant: string;
  readonly key: string;
}

class CliError extends Error {}

async function call(env: Env, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${env.api.replace(/\/$/, '')}${path}`, {
    method,
    headers: { 'x-tenant-id': env.tenant, authorization: `Bearer ${env.key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = (await res.json()) as Record<string, unknown>;
  if (res.status >= 400) {
    const error = json.error as { code: string; message: string } | undefined;
    throw new CliError(`${res.status} ${error?.code ?? ''}: ${error?.message ?? JSON.stringify(json)}`);
  }
  return { status: res.status, json };
}

const enc = encodeURIComponent;

async function agents(env: Env, args: string[], print: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { why: { type: 'string' }, label: { type: 'string', default: 'production' } } });
  const [command, agent, a, b] = positionals;
  if (command === 'ls') {
    const { json } = await call(env, 'GET', '/v1/agents?limit=100');
    for (const row of json.data as { slug: string; latestVersion: number | null; createdBy: string }[]) print(`${row.slug}\tv${row.latestVersion ?? '-'}\t${row.createdBy}`);
  } else if (command === 'show' && agent) {
    if (a) {
      const { json } = await call(env, 'GET', `/v1/agents/${enc(agent)}/versions/${enc(a)}`);
      print(`# ${agent} v${String(json.number)} ${String(json.sha)} by ${String(json.author)}: ${String(json.changeNote ?? '')}`);
      print(String(json.yaml));
    } else {
      const { json } = await call(env, 'GET', `/v1/agents/${enc(agent)}`);
      const labels = json.labels as Record<string, { number: number; sha: string }>;
      for (const [label, at] of Object.entries(labels)) print(`${label}\tv${at.number}\t${at.sha.slice(0, 12)}`);
      const latest = json.latest as { number: number; sha: string } | null;
      if (latest) print(`latest\tv${latest.number}\t${latest.sha.slice(0, 12)}`);
    }
  } else if (command === 'diff' && agent && a && b) {
    const { json } = await call(env, 'GET', `/v1/agents/${enc(agent)}/diff?from=${enc(a)}&to=${enc(b)}`);
    print(String(json.prompt));
    print(String(json.yaml));
    const risk = json.risk as { risky: boolean; reasons: { why: string }[] };
    print(risk.risky ? `risky (promotion to production needs approval): ${risk.reasons.map((r) => r.why).join('; ')}` : 'not risky: promotes at once');
  } else if (command === 'promote' && agent && a) {
    if (!values.why) throw new CliError('promote needs --why "<reason>"');
    const { status, json } = await call(env, 'PUT', `/v1/agents/${enc(agent)}/labels/${enc(values.label)}`, { version: a, why: values.why });
    if (status === 202) {
      const promotion = json.promotion as { id: string; links: { approve: string } };
      print(`pending approval: ${(json.reasons as { why: string }[]).map((r) => r.why).join('; ')}`);
      print(`promotion ${promotion.id}: approvers POST ${promotion.links.approve}`);
    } else {
      print(json.moved ? `${values.label} -> ${String(json.to)}` : `${values.label} already at ${String(json.to)}`);
    }
  } else {
    throw new CliError(USAGE);
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<number> {
  try {
    const [group, ...rest] = argv;
    // The payload keyring (README: Payload encryption): a file next to the processes, not an API call.
    if (group === 'keys') {
      try {
        for (const line of keysCommand(rest, env)) print(line);
        return 0;
      } catch (err) {
        if (err instanceof KeyringError) throw new CliError(err.message);
        throw err;
      }
    }
    // Operator commands: Postgres and the object store directly, with the deployment's configuration.
    if (group === 'archive' || group === 'retention') return await archiveMain(group, rest, env, print);
    if (group !== 'agents') throw new CliError(`${USAGE}\n${ARCHIVE_USAGE}`);
    const { KORTIX_API: api, KORTIX_TENANT: tenant, KORTIX_KEY: key } = env;
    if (!api || !tenant || !key) throw new CliError('set KORTIX_API, KORTIX_TENANT and KORTIX_KEY (source .data/dev-keys.env; KORTIX_KEY=$ALICE_KEY)');
    await agents({ api, tenant, key }, rest, print);
    return 0;
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    process.stderr.write(`${err.message}\n`);
    return 1;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(process.argv.slice(2), process.env, (line) => process.stdout.write(`${line}\n`));
}
