/**
 * Policies: templates, file policies and the tenant's saved ones; the
 * versions of one and a side-by-side diff of any two; and a playground that
 * evaluates a tool call as the workflow would (POST /v1/policies/evaluate),
 * live as you type.
 */
import { useEffect, useState, type FormEvent } from 'react';
import type { z } from 'zod';
import type { evaluationSchema, policyDiffSchema, policyVersionSchema } from '../../../api/routes/policies.js';
import { Alert } from '../Alert.js';
import { call } from '../api.js';
import { SideBySide } from '../SideBySide.js';

type PolicySummary = Omit<z.infer<typeof policyVersionSchema>, 'yaml' | 'policy'>;
type PolicyVersion = z.infer<typeof policyVersionSchema>;
type Evaluation = z.infer<typeof evaluationSchema>;
type PolicyDiff = z.infer<typeof policyDiffSchema>;

const TOOLS = ['shell', 'write_file', 'read_file', 'list_files', 'request_network'] as const;
/** The argument a person types for each tool; the rest of the call is filled in. */
const MAIN_ARG: Record<(typeof TOOLS)[number], string> = { shell: 'command', write_file: 'path', read_file: 'path', list_files: 'path', request_network: 'host' };

function Playground({ names }: { names: string[] }) {
  const [policy, setPolicy] = useState('standard');
  const [tool, setTool] = useState<(typeof TOOLS)[number]>('shell');
  const [value, setValue] = useState('rm -rf x');
  const [result, setResult] = useState<Evaluation | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const args: Record<string, unknown> = { [MAIN_ARG[tool]]: value, ...(tool === 'write_file' ? { content: '' } : {}), ...(tool === 'request_network' ? { reason: 'playground' } : {}) };
    let live = true;
    // Evaluated as you type, a moment after the last key.
    const timer = window.setTimeout(() => {
      call<Evaluation>('POST', '/v1/policies/evaluate', { policy, tool, arguments: args }).then(
        (r) => live && (setResult(r), setError(null)),
        (err: Error) => live && (setResult(null), setError(err.message)),
      );
    }, 250);
    return () => {
      live = false;
      window.clearTimeout(timer);
    };
  }, [policy, tool, value]);
  return (
    <section className="card" aria-labelledby="playground-h">
      <h2 id="playground-h">Playground</h2>
      <div className="row">
        <label>
          Policy
          <select value={policy} onChange={(e) => setPolicy(e.target.value)}>
            {names.map((n) => (
              <option key={n}>{n}</option>
            ))}
          </select>
        </label>
        <label>
          Tool
          <select value={tool} onChange={(e) => setTool(e.target.value as (typeof TOOLS)[number])}>
            {TOOLS.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label className="grow">
          {MAIN_ARG[tool]}
          <input value={value} onChange={(e) => setValue(e.target.value)} className="mono" />
        </label>
      </div>
      <Alert message={error} />
      {result && (
        <div role="status" aria-live="polite">
          <p>
            Decision: <strong className={`decision decision-${result.decision.action}`} data-testid="decision">{result.decision.action}</strong>, by rule{' '}
            <code data-testid="rule">{result.decision.ruleId}</code>
            {result.decision.reason ? ` — ${result.decision.reason}` : ''}
          </p>
          {result.gate && (
            <p>
              It would open a gate: {result.gate.approvers} approvers{result.gate.roles.length > 0 ? ` (roles ${result.gate.roles.join(', ')})` : ''}, risk {result.gate.risk}, {result.gate.onTimeout} after{' '}
              {result.gate.timeoutSeconds} s.
            </p>
          )}
        </div>
      )}
    </section>
  );
}

function Versions({ name }: { name: string }) {
  const [versions, setVersions] = useState<PolicySummary[]>([]);
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [diff, setDiff] = useState<{ d: PolicyDiff; a: PolicyVersion; b: PolicyVersion } | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setDiff(null);
    call<{ data: PolicySummary[] }>('GET', `/v1/policies/${name}/versions`).then((r) => setVersions(r.data), (err: Error) => setError(err.message));
  }, [name]);
  const ref = (v: PolicySummary) => (v.version === null ? v.sha256.slice(0, 12) : `v${v.version}`);
  const a = from || (versions[1] ? ref(versions[1]) : '');
  const b = to || (versions[0] ? ref(versions[0]) : '');
  async function open(event: FormEvent) {
    event.preventDefault();
    try {
      const [d, va, vb] = await Promise.all([
        call<PolicyDiff>('GET', `/v1/policies/${name}/diff?from=${a}&to=${b}`),
        call<PolicyVersion>('GET', `/v1/policies/${name}/versions/${a}`),
        call<PolicyVersion>('GET', `/v1/policies/${name}/versions/${b}`),
      ]);
      setDiff({ d, a: va, b: vb });
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <section className="card" aria-labelledby="versions-h">
      <h2 id="versions-h">Versions of {name}</h2>
      <ol reversed>
        {versions.map((v) => (
          <li key={v.sha256}>
            {ref(v)} <code>{v.sha256.slice(0, 12)}</code> {v.author ? `by ${v.author}` : `(${v.source})`}
            {v.changeNote ? `: ${v.changeNote}` : ''}
          </li>
        ))}
      </ol>
      <Alert message={error} />
      {versions.length > 1 && (
        <form className="row" onSubmit={(e) => void open(e)}>
          {[
            ['From', a, setFrom],
            ['To', b, setTo],
          ].map(([label, value, set]) => (
            <label key={label as string}>
              {label as string}
              <select value={value as string} onChange={(e) => (set as (v: string) => void)(e.target.value)}>
                {versions.map((v) => (
                  <option key={v.sha256}>{ref(v)}</option>
                ))}
              </select>
            </label>
          ))}
          <button type="submit">Show diff</button>
        </form>
      )}
      {diff && (
        <>
          <ul aria-label="Changed rules">
            {diff.d.rules.map((r) => (
              <li key={r.id}>
                rule <code>{r.id}</code> {r.change}
                {r.fields?.length ? ` (${r.fields.join(', ')})` : ''}
              </li>
            ))}
          </ul>
          <SideBySide a={diff.a.yaml} b={diff.b.yaml} fromLabel={a} toLabel={b} />
        </>
      )}
    </section>
  );
}

export function Policies() {
  const [list, setList] = useState<PolicySummary[]>([]);
  const [selected, setSelected] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    call<{ data: PolicySummary[] }>('GET', '/v1/policies?limit=100').then((r) => setList(r.data), (err: Error) => setError(err.message));
  }, []);
  return (
    <main>
      <h1>Policies</h1>
      <Alert message={error} />
      <Playground names={list.length ? list.map((p) => p.name) : ['standard']} />
      <table>
        <caption className="sr-only">Policies this tenant can use</caption>
        <thead>
          <tr>
            <th scope="col">Policy</th>
            <th scope="col">Source</th>
            <th scope="col">Version</th>
            <th scope="col">Extends</th>
            <th scope="col">Description</th>
          </tr>
        </thead>
        <tbody>
          {list.map((p) => (
            <tr key={p.name}>
              <td>
                <button type="button" onClick={() => setSelected(p.name)} aria-pressed={selected === p.name}>
                  {p.name}
                </button>
              </td>
              <td>{p.source}</td>
              <td>{p.version ?? '—'}</td>
              <td>{p.extends ?? '—'}</td>
              <td>{p.description ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected && <Versions name={selected} />}
    </main>
  );
}
