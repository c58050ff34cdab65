/** Sign in: the key is checked against the API before it is kept (sessionStorage: gone with the tab). */
import { useState, type FormEvent } from 'react';
import { authHeaders, failureOf, setAuth } from '../api.js';
import { Alert } from '../Alert.js';

export function SignIn() {
  const [tenant, setTenant] = useState('');
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const res = await fetch('/v1/sessions?limit=1', { headers: authHeaders({ tenant: tenant.trim(), key: key.trim() }) });
      if (!res.ok) throw await failureOf(res);
      setAuth({ tenant: tenant.trim(), key: key.trim() });
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="signin">
      <h1>Sign in to Kortix</h1>
      <form onSubmit={(e) => void submit(e)}>
        <label>
          Tenant
          <input name="tenant" value={tenant} onChange={(e) => setTenant(e.target.value)} required autoComplete="organization" />
        </label>
        <label>
          API key
          <input name="key" type="password" value={key} onChange={(e) => setKey(e.target.value)} required autoComplete="current-password" />
        </label>
        <Alert message={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
