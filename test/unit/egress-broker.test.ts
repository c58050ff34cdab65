/**
 * The egress proxy's secret injection rules (sandbox/egress-broker.ts): which
 * binding covers a target, the header each kind of binding adds, and that the
 * sandbox's own credentials for a bound host never reach it.
 */
import { describe, expect, it } from 'vitest';
import { boundSecretFor, injectedHeader, withSecret, type BoundSecret } from '../../sandbox/egress-broker.js';

const gh: BoundSecret = { name: 'gh', hosts: ['api.github.com', '*.example.com:8443'], inject: { header: 'Authorization', format: 'token {value}' } };
const basic: BoundSecret = { name: 'reg', hosts: ['registry.test'], inject: { basicAuth: { username: 'bot' } } };

describe('boundSecretFor', () => {
  it('matches hosts as network.allow does: exact names on 80/443, wildcards on their port, never another host', () => {
    expect(boundSecretFor([gh, basic], 'api.github.com', 443)?.name).toBe('gh');
    expect(boundSecretFor([gh, basic], 'API.GitHub.com.', 80)?.name).toBe('gh');
    expect(boundSecretFor([gh, basic], 'api.github.com', 8080)).toBeUndefined();
    expect(boundSecretFor([gh, basic], 'evil-api.github.com', 443)).toBeUndefined();
    expect(boundSecretFor([gh, basic], 'a.example.com', 8443)?.name).toBe('gh');
    expect(boundSecretFor([gh, basic], 'example.com', 8443)).toBeUndefined();
    expect(boundSecretFor([gh, basic], 'registry.test', 443)?.name).toBe('reg');
  });
});

describe('withSecret', () => {
  it('replaces any Authorization the sandbox sent (any case) with the binding\'s header and keeps the rest', () => {
    const out = withSecret({ Authorization: 'Bearer mine', 'x-other': '1', accept: '*/*' }, gh.inject, 'v4lue');
    expect(out).toEqual({ authorization: 'token v4lue', 'x-other': '1', accept: '*/*' });
  });

  it('builds a basic-auth pair, and drops a custom header the sandbox set itself', () => {
    expect(injectedHeader(basic.inject, 'pässword')).toEqual({ name: 'authorization', value: `Basic ${Buffer.from('bot:pässword').toString('base64')}` });
    const custom = { header: 'X-Api-Key', format: 'k={value}' } as const;
    expect(withSecret({ 'x-api-key': 'forged', authorization: 'x' }, custom, 'abc')).toEqual({ 'x-api-key': 'k=abc' });
  });

  it('refuses a value that would split the header', () => {
    expect(() => withSecret({}, gh.inject, 'a\r\nX-Injected: 1')).toThrow(/line break/);
  });
});
