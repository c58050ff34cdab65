/** The Agent Builder's library: the tenant's agents and the templates to create one from. */
import { useEffect, useState } from 'react';
import { Alert } from '../Alert.js';
import { call } from '../api.js';
import { Link } from '../Link.js';
import { navigate } from '../router.js';
import type { AgentSpec, AgentVersionJson } from '../types.js';

interface Template {
  name: string;
  title: string;
  description: string;
  spec: AgentSpec;
}
interface AgentRow {
  slug: string;
  createdBy: string;
  createdAt: string;
  latestVersion: number | null;
}

function TemplateCard({ t, onError }: { t: Template; onError: (m: string) => void }) {
  const [slug, setSlug] = useState(t.name);
  async function create() {
    try {
      await call<{ version: AgentVersionJson }>('POST', '/v1/agents', { slug, fromTemplate: t.name });
      navigate(`/agents/${slug}`);
    } catch (err) {
      onError((err as Error).message);
    }
  }
  return (
    <article className="card" aria-label={`Template ${t.title}`}>
      <h3>{t.title}</h3>
      <p>{t.description}</p>
      <p className="muted">
        policy {t.spec.policy} · tools {t.spec.tools.length > 0 ? t.spec.tools.join(', ') : 'none'}
      </p>
      <div className="row">
        <label className="grow">
          New agent’s slug
          <input value={slug} onChange={(e) => setSlug(e.target.value)} />
        </label>
        <button type="button" onClick={() => void create()} aria-label={`Create an agent from ${t.title}`}>
          Create
        </button>
      </div>
    </article>
  );
}

export function Agents() {
  const [agents, setAgents] = useState<AgentRow[] | null>(null);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    call<{ data: AgentRow[] }>('GET', '/v1/agents?limit=100').then((r) => setAgents(r.data), (err: Error) => setError(err.message));
    call<{ data: Template[] }>('GET', '/v1/agent-templates').then((r) => setTemplates(r.data), (err: Error) => setError(err.message));
  }, []);
  return (
    <main>
      <h1>Agents</h1>
      <Alert message={error} />
      <table>
        <caption className="sr-only">The tenant’s agents</caption>
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Latest version</th>
            <th scope="col">Created by</th>
          </tr>
        </thead>
        <tbody>
          {agents?.map((a) => (
            <tr key={a.slug}>
              <td>
                <Link to={`/agents/${a.slug}`}>{a.slug}</Link>
              </td>
              <td>{a.latestVersion === null ? '—' : `v${a.latestVersion}`}</td>
              <td>{a.createdBy}</td>
            </tr>
          ))}
          {agents?.length === 0 && (
            <tr>
              <td colSpan={3}>No agents yet: create one from a template.</td>
            </tr>
          )}
        </tbody>
      </table>
      <h2>Templates</h2>
      <div className="grid2">
        {templates.map((t) => (
          <TemplateCard key={t.name} t={t} onError={setError} />
        ))}
      </div>
    </main>
  );
}
