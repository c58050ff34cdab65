/**
 * One agent: its labels (promote, roll back; a looser `production` waits on
 * a gate, shown here until decided), an editor (form or raw YAML; saving
 * makes a version), the versions, and a side-by-side diff of any two.
 */
import { useCallback, useEffect, useState, type FormEvent } from 'react';
import { parse as parseYaml } from 'yaml';
import { Alert } from '../Alert.js';
import { call } from '../api.js';
import { Link } from '../Link.js';
import { SideBySide } from '../SideBySide.js';
import type { AgentSpec, AgentVersionJson, FieldChange, PromotionJson, PromotionRisk } from '../types.js';

interface AgentJson {
  slug: string;
  labels: Record<string, { sha: string; number: number; updatedBy: string; updatedAt: string }>;
  latest: AgentVersionJson | null;
}
interface DiffJson {
  from: { sha: string; number: number };
  to: { sha: string; number: number };
  fields: FieldChange[];
  risk: PromotionRisk;
}
interface MoveJson {
  moved: boolean;
  pending: boolean;
  reasons: PromotionRisk['reasons'];
  promotion?: PromotionJson;
}

const show = (v: unknown) => (v === undefined ? '—' : JSON.stringify(v));

/** A version by its sha prefix (what labels and diffs take). */
function VersionPicker(props: { name: string; value: string; onChange: (v: string) => void; versions: AgentVersionJson[] }) {
  return (
    <label>
      {props.name}
      <select value={props.value} onChange={(e) => props.onChange(e.target.value)}>
        {props.versions.map((v) => (
          <option key={v.sha} value={v.sha.slice(0, 12)}>
            v{v.number} {v.sha.slice(0, 8)}
          </option>
        ))}
      </select>
    </label>
  );
}

function Editor({ slug, latest, onSaved }: { slug: string; latest: AgentVersionJson; onSaved: (v: AgentVersionJson) => void }) {
  const [mode, setMode] = useState<'form' | 'yaml'>('form');
  const [spec, setSpec] = useState<AgentSpec>(latest.spec);
  const [yamlText, setYamlText] = useState('');
  const [note, setNote] = useState('');
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setSpec(latest.spec);
    call<{ yaml: string }>('GET', `/v1/agents/${slug}/versions/${latest.sha.slice(0, 12)}`).then((v) => setYamlText(v.yaml), (err: Error) => setError(err.message));
  }, [slug, latest]);

  async function save(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const body = mode === 'yaml' ? (parseYaml(yamlText) as AgentSpec) : spec;
      const saved = await call<AgentVersionJson & { created: boolean }>('POST', `/v1/agents/${slug}/versions`, { spec: body, ...(note ? { changeNote: note } : {}) });
      setNote('');
      onSaved(saved);
    } catch (err) {
      setError((err as Error).message);
    }
  }
  const limit = (key: 'maxSteps' | 'maxCostUsd', value: string) => setSpec({ ...spec, limits: { ...spec.limits, [key]: value === '' ? undefined : Number(value) } });
  return (
    <section className="card" aria-labelledby="edit-h">
      <h2 id="edit-h">Edit (saving makes a new version)</h2>
      <div className="tabs" role="group" aria-label="Editor">
        <button type="button" aria-pressed={mode === 'form'} onClick={() => setMode('form')}>
          Form
        </button>
        <button type="button" aria-pressed={mode === 'yaml'} onClick={() => setMode('yaml')}>
          YAML
        </button>
      </div>
      <form onSubmit={(e) => void save(e)}>
        {mode === 'form' ? (
          <>
            <label>
              System prompt
              <textarea rows={8} value={spec.systemPrompt} onChange={(e) => setSpec({ ...spec, systemPrompt: e.target.value })} />
            </label>
            <div className="row">
              <label>
                Policy
                <input value={spec.policy} onChange={(e) => setSpec({ ...spec, policy: e.target.value })} />
              </label>
              <label>
                Max steps
                <input type="number" min={1} value={spec.limits.maxSteps ?? ''} onChange={(e) => limit('maxSteps', e.target.value)} />
              </label>
              <label>
                Max cost (USD)
                <input type="number" min={0} step="0.01" value={spec.limits.maxCostUsd ?? ''} onChange={(e) => limit('maxCostUsd', e.target.value)} />
              </label>
            </div>
          </>
        ) : (
          <label>
            Raw YAML
            <textarea rows={16} value={yamlText} onChange={(e) => setYamlText(e.target.value)} spellCheck={false} className="mono" />
          </label>
        )}
        <div className="row">
          <label className="grow">
            Change note
            <input value={note} onChange={(e) => setNote(e.target.value)} />
          </label>
          <button type="submit">Save version</button>
        </div>
        <Alert message={error} />
      </form>
    </section>
  );
}

function Labels({ slug, agent, versions, onMoved }: { slug: string; agent: AgentJson; versions: AgentVersionJson[]; onMoved: () => void }) {
  const [label, setLabel] = useState('production');
  const [version, setVersion] = useState('');
  const [why, setWhy] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState<{ promotion: PromotionJson; reasons: MoveJson['reasons'] } | null>(null);

  // A pending promotion is polled until its gate decides.
  useEffect(() => {
    if (!pending || pending.promotion.status !== 'pending') return;
    const timer = window.setInterval(() => {
      call<PromotionJson>('GET', pending.promotion.links.self).then((p) => {
        setPending((cur) => (cur ? { ...cur, promotion: p } : cur));
        if (p.status !== 'pending') onMoved();
      }, () => {});
    }, 2_000);
    return () => window.clearInterval(timer);
  }, [pending, onMoved]);

  async function move(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const res = await call<MoveJson>('PUT', `/v1/agents/${slug}/labels/${label}`, { version: version || versions[0]?.sha.slice(0, 12), why });
      if (res.pending && res.promotion) setPending({ promotion: res.promotion, reasons: res.reasons });
      onMoved();
    } catch (err) {
      setError((err as Error).message);
    }
  }
  const gate = pending?.promotion.gate;
  return (
    <section className="card" aria-labelledby="labels-h">
      <h2 id="labels-h">Labels</h2>
      <ul>
        {Object.entries(agent.labels).map(([name, l]) => (
          <li key={name} data-testid={`label-${name}`}>
            <strong>{name}</strong> → v{l.number} <code>{l.sha.slice(0, 12)}</code> (by {l.updatedBy})
          </li>
        ))}
        {Object.keys(agent.labels).length === 0 && <li>No labels yet.</li>}
      </ul>
      <form className="row" onSubmit={(e) => void move(e)} aria-label="Promote or roll back">
        <label>
          Label
          <input value={label} onChange={(e) => setLabel(e.target.value)} />
        </label>
        <VersionPicker name="To version" value={version} onChange={setVersion} versions={versions} />
        <label className="grow">
          Why
          <input value={why} onChange={(e) => setWhy(e.target.value)} required />
        </label>
        <button type="submit">Move label</button>
      </form>
      <Alert message={error} />
      {pending && (
        <div className="gate" role="status" data-testid="promotion">
          <p>
            Promotion <code>{pending.promotion.id}</code> is <strong>{pending.promotion.status}</strong>
            {pending.promotion.status === 'pending' && (
              <>
                : it loosens the agent, so it waits for {gate?.required ?? 2} approvers ({gate?.approvals.map((a) => a.approver).join(', ') || 'none yet'}).{' '}
                <Link to="/approvals">Open the inbox</Link>
              </>
            )}
          </p>
          <ul>
            {pending.reasons.map((r, i) => (
              <li key={i}>
                {r.path}: {show(r.from)} → {show(r.to)} ({r.why})
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function Diff({ slug, versions }: { slug: string; versions: AgentVersionJson[] }) {
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  const [result, setResult] = useState<{ diff: DiffJson; a: string; b: string } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const a = from || versions[1]?.sha.slice(0, 12) || '';
  const b = to || versions[0]?.sha.slice(0, 12) || '';
  async function open(event: FormEvent) {
    event.preventDefault();
    setError(null);
    try {
      const [diff, va, vb] = await Promise.all([
        call<DiffJson>('GET', `/v1/agents/${slug}/diff?from=${a}&to=${b}`),
        call<{ yaml: string }>('GET', `/v1/agents/${slug}/versions/${a}`),
        call<{ yaml: string }>('GET', `/v1/agents/${slug}/versions/${b}`),
      ]);
      setResult({ diff, a: va.yaml, b: vb.yaml });
    } catch (err) {
      setError((err as Error).message);
    }
  }
  return (
    <section className="card" aria-labelledby="diff-h">
      <h2 id="diff-h">Compare versions</h2>
      <form className="row" onSubmit={(e) => void open(e)}>
        <VersionPicker name="From" value={a} onChange={setFrom} versions={versions} />
        <VersionPicker name="To" value={b} onChange={setTo} versions={versions} />
        <button type="submit">Show diff</button>
      </form>
      <Alert message={error} />
      {result && (
        <>
          <ul aria-label="Changed fields">
            {result.diff.fields.map((f) => (
              <li key={f.path} className={`field-${f.change}`}>
                <code>{f.path}</code> {f.change}
                {f.change === 'changed' && f.from !== undefined && typeof f.from !== 'string' ? `: ${show(f.from)} → ${show(f.to)}` : ''}
              </li>
            ))}
          </ul>
          <p className={result.diff.risk.risky ? 'warn' : 'ok'}>
            {result.diff.risk.risky ? `Looser: promoting it to production needs approval (${result.diff.risk.reasons.map((r) => r.path).join(', ')}).` : 'Not looser: it promotes at once.'}
          </p>
          <SideBySide a={result.a} b={result.b} fromLabel={`v${result.diff.from.number}`} toLabel={`v${result.diff.to.number}`} />
        </>
      )}
    </section>
  );
}

export function AgentPage({ slug }: { slug: string }) {
  const [agent, setAgent] = useState<AgentJson | null>(null);
  const [versions, setVersions] = useState<AgentVersionJson[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const load = useCallback(() => {
    call<AgentJson>('GET', `/v1/agents/${slug}`).then(setAgent, (err: Error) => setError(err.message));
    call<{ data: AgentVersionJson[] }>('GET', `/v1/agents/${slug}/versions?limit=100`).then((r) => setVersions(r.data), (err: Error) => setError(err.message));
  }, [slug]);
  useEffect(load, [load]);
  return (
    <main>
      <h1>
        Agent <code>{slug}</code>
      </h1>
      <Alert message={error} />
      {saved && (
        <p role="status" className="ok">
          {saved}
        </p>
      )}
      {agent && <Labels slug={slug} agent={agent} versions={versions} onMoved={load} />}
      {agent?.latest && (
        <Editor
          slug={slug}
          latest={agent.latest}
          onSaved={(v) => {
            setSaved(`Saved v${v.number} (${v.sha.slice(0, 12)}).`);
            load();
          }}
        />
      )}
      <section className="card" aria-labelledby="versions-h">
        <h2 id="versions-h">Versions</h2>
        <ol reversed>
          {versions.map((v) => (
            <li key={v.sha}>
              v{v.number} <code>{v.sha.slice(0, 12)}</code> by {v.author}
              {v.changeNote ? `: ${v.changeNote}` : ''}
            </li>
          ))}
        </ol>
      </section>
      {versions.length > 1 && <Diff slug={slug} versions={versions} />}
    </main>
  );
}
