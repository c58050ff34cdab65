/**
 * The browser under policy: which URLs the browser tool may load at all
 * (policies/browser-url.ts), browser rules per host and action (allow /
 * approve / deny, judged on a goto's URL or the page an action works on),
 * what an approver is shown, how a policy change to browser rules is
 * classified, and a bad browser rule refused at load with file:line.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { YamlFileError } from '../../config/yaml.js';
import { approvalDisplay } from '../../policies/approval-display.js';
import { checkBrowserUrl } from '../../policies/browser-url.js';
import { comparePolicies } from '../../policies/compare.js';
import { diffPolicies } from '../../policies/diff.js';
import { evaluatePolicy } from '../../policies/evaluate.js';
import { PolicyStore } from '../../policies/load.js';
import { policySchema, type Policy } from '../../policies/schema.js';

const network = { allow: ['docs.example.com', '*.shop.test', 'api.example.com:8443', '10.1.2.3:8080'], approve: ['pay.example.com'] };
const refused = (url: string, options = { network }) => {
  const verdict = checkBrowserUrl(url, options);
  return verdict.ok ? undefined : verdict.reason;
};

describe('checkBrowserUrl', () => {
  it('lets through http(s) to named hosts, files under /workspace, about:blank and the sandbox’s own loopback', () => {
    for (const url of [
      'https://docs.example.com/guide?x=1',
      'http://a.shop.test/cart',
      'https://api.example.com:8443/v1',
      'https://pay.example.com/', // network.approve: the proxy asks for approval, the URL itself is fine
      'http://10.1.2.3:8080/', // an internal address the policy names exactly
      'file:///workspace/site/index.html',
      'file:///workspace',
      'about:blank',
      'http://localhost:8000/',
      'http://127.0.0.1:3000/app',
      'http://[::1]:5000/',
    ]) {
      expect(refused(url), url).toBeUndefined();
    }
    expect(checkBrowserUrl('HTTPS://Docs.Example.COM./a', { network })).toMatchObject({ ok: true, host: 'docs.example.com', port: 443, scheme: 'https' });
  });

  it('refuses schemes the browser handles itself, naming what it opens', () => {
    for (const url of [
      'chrome://settings',
      'chrome://inspect/#devices',
      'devtools://devtools/bundled/inspector.html',
      'view-source:https://docs.example.com/',
      'javascript:alert(1)',
      'data:text/html,<script>1</script>',
      'blob:https://docs.example.com/uuid',
      'chrome-extension://abc/page.html',
      'ftp://docs.example.com/',
      'ws://docs.example.com/',
      'filesystem:https://docs.example.com/temporary/x',
      'about:config',
    ]) {
      expect(refused(url), url).toMatch(/refused/);
    }
    expect(refused('chrome://settings')).toBe('chrome: URLs are refused: the browser opens http(s) pages the policy names, files under /workspace and about:blank');
  });

  it('refuses files outside /workspace, however the path is spelled', () => {
    expect(refused('file:///etc/passwd')).toMatch(/^file:\/\/\/etc\/passwd is outside \/workspace/);
    for (const url of [
      'file:///workspace/../etc/passwd', // the URL parser resolves it to /etc/passwd
      'file:///workspace/%2e%2e/etc/passwd',
      'file:///workspace/..%2Fetc/passwd',
      'file:///workspace%2F..%2Fetc%2Fpasswd',
      'file:///workspace-evil/x',
      'file:///workspacex',
      'file://host.example/workspace/x',
      'file:///proc/self/environ',
      'file:///workspace/%00x',
      'file:///workspace/%E0%A4%A',
    ]) {
      expect(refused(url), url).toBeDefined();
    }
  });

  it('refuses internal addresses in every spelling, and hosts the policy does not name', () => {
    expect(refused('http://169.254.169.254/latest/meta-data/')).toBe('169.254.169.254 is an internal address (link-local, where cloud metadata answers): the browser never goes there');
    for (const url of ['http://0xA9FEA9FE/', 'http://2852039166/', 'http://0251.0376.0251.0376/', 'http://[::ffff:169.254.169.254]/', 'http://[fe80::1]/', 'http://172.17.0.1:8080/', 'http://10.1.2.3/', 'http://192.168.1.1/']) {
      expect(refused(url), url).toMatch(/internal address/);
    }
    expect(refused('https://evil.example.net/')).toBe("navigation refused: evil.example.net:443 is not named in the session's policy (network.allow)");
    expect(refused('https://docs.example.com:8443/')).toMatch(/not named/);
    expect(refused('https://example.com/', { network: { allow: [], approve: [] } })).toBe("navigation refused: the session's policy names no hosts");
  });

  it('refuses credentials, the driver’s loopback port and hostile text', () => {
    expect(refused('https://docs.example.com@evil.example.net/')).toMatch(/user:password@/);
    expect(refused('https://user:pw@docs.example.com/')).toMatch(/user:password@/);
    expect(checkBrowserUrl('http://127.0.0.1:9222/json', { network, reservedLoopbackPorts: [9222] })).toMatchObject({ ok: false, reason: expect.stringMatching(/driver/) });
    expect(refused('https://docs.example.com/\u0000')).toBe('the URL contains U+0000');
    expect(refused('https://docs.example.com/\ud800')).toBe('the URL contains a lone surrogate');
    expect(refused(`https://docs.example.com/${'a'.repeat(9000)}`)).toMatch(/longer than 8192/);
    expect(refused('/relative/path')).toMatch(/not an absolute URL/);
    expect(checkBrowserUrl(42)).toEqual({ ok: false, reason: 'the URL is empty' });
  });
});

const base = (extra: Record<string, unknown> = {}): Policy =>
  policySchema.parse({
    name: 'browsing',
    tools: ['browser', 'shell'],
    network,
    rules: [
      { id: 'pay-approve', tool: 'browser', match: { host: 'pay.example.com' }, action: 'approve', risk: 'high', approval: { approvers: 1 } },
      { id: 'shop-no-typing', tool: 'browser', match: { host: '*.shop.test', browserAction: ['type', 'press'] }, action: 'deny', reason: 'no typing into shops' },
      { id: 'browse', tool: 'browser', action: 'allow' },
    ],
    default: 'deny',
    ...extra,
  });
const browser = (args: Record<string, unknown>) => ({ name: 'browser', arguments: args });

describe('browser rules', () => {
  const policy = base();

  it('judge a goto on its URL’s host: allow, approve (with the rule’s approvers), or the URL refused before any rule', () => {
    expect(evaluatePolicy(policy, browser({ action: 'goto', url: 'https://docs.example.com/' }))).toEqual({ action: 'allow', ruleId: 'browse' });
    expect(evaluatePolicy(policy, browser({ action: 'goto', url: 'https://pay.example.com/checkout' }))).toMatchObject({ action: 'approve', ruleId: 'pay-approve', approvers: 1, risk: 'high' });
    expect(evaluatePolicy(policy, browser({ action: 'goto', url: 'https://evil.example.net/' }))).toMatchObject({ action: 'deny', ruleId: 'browser.url', reason: expect.stringMatching(/not named/) });
    expect(evaluatePolicy(policy, browser({ action: 'goto', url: 'file:///etc/passwd' }))).toMatchObject({ action: 'deny', ruleId: 'browser.url' });
    expect(evaluatePolicy(policy, browser({ action: 'goto', url: 'chrome://settings' }))).toMatchObject({ action: 'deny', ruleId: 'browser.url' });
  });

  it('judge other actions on the page they work on (the workflow passes it), and filter by action', () => {
    const onShop = { pageUrl: 'https://www.shop.test/cart' };
    expect(evaluatePolicy(policy, browser({ action: 'type', selector: '#q', text: 'x' }), onShop)).toMatchObject({ action: 'deny', ruleId: 'shop-no-typing', reason: 'no typing into shops' });
    expect(evaluatePolicy(policy, browser({ action: 'click', text: 'Buy' }), onShop)).toEqual({ action: 'allow', ruleId: 'browse' });
    expect(evaluatePolicy(policy, browser({ action: 'click', text: 'Pay' }), { pageUrl: 'https://pay.example.com/' })).toMatchObject({ action: 'approve', ruleId: 'pay-approve' });
    // No page yet: a host rule cannot match; the next rule decides.
    expect(evaluatePolicy(policy, browser({ action: 'type', selector: '#q', text: 'x' }))).toEqual({ action: 'allow', ruleId: 'browse' });
    // A browser rule never matches a shell command naming that host.
    expect(evaluatePolicy(policy, { name: 'shell', arguments: { command: 'curl https://pay.example.com/' } })).toMatchObject({ action: 'deny', ruleId: 'default' });
  });

  it('deny the browser to a policy that does not offer it', () => {
    const noBrowser = base({ tools: ['shell'] });
    expect(evaluatePolicy(noBrowser, browser({ action: 'goto', url: 'https://docs.example.com/' }))).toMatchObject({ action: 'deny', ruleId: 'tools' });
  });

  it('show the approver the action and the URL it leads to (the page for clicks), hidden characters made visible', () => {
    const goto = approvalDisplay('browser', { action: 'goto', url: 'https://pay.example.com/checkout', timeout_seconds: 15 });
    expect(goto.subject).toBe('browser goto https://pay.example.com/checkout\n{"timeout_seconds":15}');
    const click = approvalDisplay('browser', { action: 'click', text: 'Pay\u202e now', page_url: 'https://pay.example.com/cart', timeout_seconds: 15 });
    expect(click.subject.split('\n')[0]).toBe('browser click https://pay.example.com/cart');
    expect(click.safe).toContain('Pay<U+202E> now');
    expect(click.flags).toContain('bidi');
    expect(approvalDisplay('browser', { action: 'type', selector: '#a', text: 'b' }).subject).toBe('browser type (no page yet)\n{"selector":"#a","text":"b"}');
  });

  it('changes to browser rules are classified like any rule: approve → allow is looser, a new deny is tighter', () => {
    const looser = base({
      rules: [
        { id: 'pay-approve', tool: 'browser', match: { host: 'pay.example.com' }, action: 'allow' },
        { id: 'shop-no-typing', tool: 'browser', match: { host: '*.shop.test', browserAction: ['type'] }, action: 'deny', reason: 'no typing into shops' },
        { id: 'browse', tool: 'browser', action: 'allow' },
      ],
    });
    const changes = comparePolicies(base(), looser);
    expect(changes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'rules.pay-approve.action', direction: 'looser' }),
        // press is no longer denied on shops: the deny rule matches less.
        expect.objectContaining({ path: 'rules.shop-no-typing.match', direction: 'looser' }),
      ]),
    );
    const diff = diffPolicies(base(), looser);
    expect(diff.risk.classification).toBe('loosening');
    expect(diff.rules.find((r) => r.id === 'shop-no-typing')).toMatchObject({ change: 'changed', fields: ['match'] });
    expect(comparePolicies(base({ tools: ['shell'] }), base())).toEqual([expect.objectContaining({ path: 'tools', direction: 'looser', why: 'tools added: browser' })]);
  });
});

describe('loading a policy with browser rules', () => {
  it('refuses an unknown browser action, naming file, line and path', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kortix-browser-policy-'));
    mkdirSync(join(dir, 'templates'));
    const file = join(dir, 'templates', 'bad-browser.yaml');
    writeFileSync(
      file,
      ['name: bad-browser', 'tools: [browser]', 'rules:', '  - tool: browser', '    match:', '      browserAction: [goto, hover]', '    action: allow', ''].join('\n'),
    );
    let error: unknown;
    try {
      new PolicyStore(dir);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(YamlFileError);
    expect((error as YamlFileError).message).toContain(`${file}:6: rules.0.match.browserAction.1:`);
  });
});
