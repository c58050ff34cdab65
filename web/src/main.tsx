/** The console's shell: sign-in gate, navigation, and the page of the current path. */
import { lazy, StrictMode, Suspense, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { SESSION_ID_PATTERN } from '../../domain/session.js';
import { getAuth, setAuth } from './api.js';
import { Link } from './Link.js';
import { navigate, useLocation } from './router.js';
import { Approvals } from './pages/Approvals.js';
import { Cost } from './pages/Cost.js';
import { Replay } from './pages/Replay.js';
import { SessionPage } from './pages/Session.js';
import { Sessions } from './pages/Sessions.js';
import { SignIn } from './pages/SignIn.js';
import './styles.css';

// The builder pages carry the YAML parser and the diff: loaded when opened, not with the first page.
const Agents = lazy(() => import('./pages/Agents.js').then((m) => ({ default: m.Agents })));
const AgentPage = lazy(() => import('./pages/AgentPage.js').then((m) => ({ default: m.AgentPage })));
const Policies = lazy(() => import('./pages/Policies.js').then((m) => ({ default: m.Policies })));

const NAV = [
  { to: '/', label: 'Sessions' },
  { to: '/approvals', label: 'Approvals' },
  { to: '/agents', label: 'Agents' },
  { to: '/policies', label: 'Policies' },
  { to: '/cost', label: 'Cost' },
  { to: '/replay', label: 'Replay' },
];

function useAuth() {
  const [auth, set] = useState(getAuth);
  useEffect(() => {
    const update = () => set(getAuth());
    window.addEventListener('kortix-auth', update);
    return () => window.removeEventListener('kortix-auth', update);
  }, []);
  return auth;
}

/** The session id that is the rest of `path` after `prefix`, when it is one (the API's id pattern). */
function sessionIdAfter(prefix: string, path: string): string | undefined {
  const id = path.startsWith(prefix) ? path.slice(prefix.length) : '';
  return SESSION_ID_PATTERN.test(id) ? id : undefined;
}

function Page({ url }: { url: URL }) {
  const path = url.pathname;
  const session = sessionIdAfter('/sessions/', path);
  if (session) return <SessionPage id={session} />;
  if (path === '/replay') return <Replay />;
  const replay = sessionIdAfter('/replay/', path);
  if (replay) return <Replay id={replay} />;
  const agent = /^\/agents\/([a-z0-9][a-z0-9_-]*)$/.exec(path);
  if (agent?.[1]) return <AgentPage slug={agent[1]} />;
  if (path === '/agents') return <Agents />;
  if (path === '/policies') return <Policies />;
  if (path === '/approvals') return <Approvals />;
  if (path === '/cost') return <Cost session={url.searchParams.get('session')} />;
  if (path === '/' || path === '/sessions') return <Sessions query={url.searchParams} />;
  return (
    <main>
      <h1>Not found</h1>
      <p>
        No page at {path}. <Link to="/">Sessions</Link>
      </p>
    </main>
  );
}

function App() {
  const auth = useAuth();
  const url = useLocation();
  if (!auth) return <SignIn />;
  const section = NAV.slice(1).find((n) => url.pathname.startsWith(n.to))?.to ?? '/';
  return (
    <>
      <header className="top">
        <nav aria-label="Main">
          <span className="brand">Kortix</span>
          {NAV.map((n) => (
            <Link key={n.to} to={n.to} aria-current={section === n.to ? 'page' : undefined}>
              {n.label}
            </Link>
          ))}
        </nav>
        <div className="who">
          <span>tenant {auth.tenant}</span>
          <button
            type="button"
            onClick={() => {
              setAuth(null);
              navigate('/');
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <Suspense fallback={<main aria-busy="true">Loading…</main>}>
        <Page url={url} />
      </Suspense>
    </>
  );
}

createRoot(document.getElementById('root') as HTMLElement).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
