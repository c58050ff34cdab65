/**
 * The secret providers against servers speaking their real protocols
 * (test/support/fake-vault.ts: Vault KV v2 over HTTP; fake-secrets-manager.ts:
 * AWS JSON 1.1 with SigV4) and a directory: values by tenant and name,
 * versions, and errors mapped to not-found / refused (not retryable) or
 * provider trouble (retryable). Hostile names, symbolic links out, `..`.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../config/secret.js';
import { AwsSecrets } from '../../secrets/aws.js';
import { FileSecrets } from '../../secrets/files.js';
import { SecretAccessError, SecretNotFoundError, SecretProviderError, type SecretProvider } from '../../secrets/provider.js';
import { VaultSecrets } from '../../secrets/vault.js';
import { FakeSecretsManager } from '../support/fake-secrets-manager.js';
import { FakeVault } from '../support/fake-vault.js';

const vault = new FakeVault();
const aws = new FakeSecretsManager();
let dir: string;

beforeAll(async () => {
  await vault.start();
  await aws.start();
  vault.addToken('root-token');
  vault.addToken('narrow-token', ['kortix/other/']);
  aws.addAccessKey('AKIDTEST');
  dir = mkdtempSync(join(tmpdir(), 'kortix-secrets-'));
});
afterAll(async () => {
  await vault.close();
  await aws.close();
});

const vaultProvider = (token = 'root-token', extra: { namespace?: string } = {}) =>
  new VaultSecrets({ address: vault.url, token: new Secret(token), mount: 'secret', prefix: 'kortix', field: 'value', ...extra });
const awsProvider = (keyId = 'AKIDTEST') =>
  new AwsSecrets({ region: 'us-east-1', endpoint: aws.url, prefix: 'kortix', credentials: { accessKeyId: keyId, secretAccessKey: new Secret('shh') } });

/** What every provider must do alike, given a way to store a value. */
function sharedBehaviour(name: string, provider: () => SecretProvider, store: (tenant: string, name: string, value: string) => void) {
  describe(`${name}: shared behaviour`, () => {
    it('reads a tenant\'s value by name, with a version, and lists the tenant\'s names only', async () => {
      store('acme', 'github-token', 'ghp_acme_1');
      store('acme', 'npm.token', 'npm_acme');
      store('globex', 'github-token', 'ghp_globex');
      const p = provider();
      const got = await p.get('acme', 'github-token');
      expect(got.value).toBe('ghp_acme_1');
      expect(got.version).not.toBe('');
      expect(await p.exists('acme', 'github-token')).toBe(true);
      expect(await p.list('acme')).toEqual(['github-token', 'npm.token']);
      expect((await p.get('globex', 'github-token')).value).toBe('ghp_globex');
    });

    it('says "not found" (not retryable) for a missing name, another tenant\'s name and names that could climb out', async () => {
      const p = provider();
      await expect(p.get('acme', 'nope')).rejects.toBeInstanceOf(SecretNotFoundError);
      expect(await p.exists('acme', 'nope')).toBe(false);
      store('globex', 'only-globex', 'x-globex-value');
      await expect(p.get('acme', 'only-globex')).rejects.toBeInstanceOf(SecretNotFoundError);
      for (const bad of ['../globex/github-token', 'a/b', '..', 'x\u0000y', '.hidden', '']) {
        await expect(p.get('acme', bad), bad).rejects.toBeInstanceOf(SecretNotFoundError);
      }
      await expect(p.get('../globex', 'github-token')).rejects.toBeInstanceOf(SecretNotFoundError);
      const err = await p.get('acme', 'nope').then(() => undefined, (e: unknown) => e as SecretNotFoundError);
      expect(err?.retryable).toBe(false);
    });
  });
}

sharedBehaviour('vault', () => vaultProvider(), (tenant, name, value) => vault.put('secret', `kortix/${tenant}/${name}`, { value }));
sharedBehaviour('aws', () => awsProvider(), (tenant, name, value) => aws.put(`kortix/${tenant}/${name}`, value));
sharedBehaviour('files', () => new FileSecrets(dir), (tenant, name, value) => {
  mkdirSync(join(dir, tenant), { recursive: true });
  writeFileSync(join(dir, tenant, name), `${value}\n`);
});

describe('vault', () => {
  it('sends the token and the namespace, reads older versions, and a deleted version is not found', async () => {
    const v1 = vault.put('secret', 'kortix/acme/rotating', { value: 'one' });
    vault.put('secret', 'kortix/acme/rotating', { value: 'two' });
    const p = vaultProvider();
    expect(await p.get('acme', 'rotating')).toEqual({ value: 'two', version: '2' });
    expect(await p.get('acme', 'rotating', { version: String(v1) })).toEqual({ value: 'one', version: '1' });
    vault.deleteVersion('secret', 'kortix/acme/rotating', 1);
    await expect(p.get('acme', 'rotating', { version: '1' })).rejects.toThrow(/\(deleted\)/);
    vault.put('secret', 'kortix/acme/in-ns', { value: 'ns-value' }, 'team-a');
    await expect(p.get('acme', 'in-ns')).rejects.toBeInstanceOf(SecretNotFoundError);
    expect((await vaultProvider('root-token', { namespace: 'team-a' }).get('acme', 'in-ns')).value).toBe('ns-value');
    const last = vault.requests.at(-1);
    expect(last).toMatchObject({ method: 'GET', path: '/v1/secret/data/kortix/acme/in-ns', namespace: 'team-a', tokenSent: true });
  });

  it('maps 403 (a bad token, a policy that does not cover the path) to a refusal that names VAULT_TOKEN', async () => {
    const bad = await vaultProvider('wrong').get('acme', 'github-token').then(() => undefined, (e: unknown) => e as Error);
    expect(bad).toBeInstanceOf(SecretAccessError);
    expect(bad?.message).toMatch(/403 permission denied.*VAULT_TOKEN/);
    await expect(vaultProvider('narrow-token').get('acme', 'github-token')).rejects.toBeInstanceOf(SecretAccessError);
  });

  it('a secret without the configured field is not found; an unreachable server is retryable', async () => {
    vault.put('secret', 'kortix/acme/wrong-field', { token: 'x' });
    await expect(vaultProvider().get('acme', 'wrong-field')).rejects.toThrow(/no string field "value" \(VAULT_KV_FIELD\)/);
    const down = new VaultSecrets({ address: 'http://127.0.0.1:1', token: new Secret('t'), mount: 'secret', prefix: 'kortix', field: 'value', timeoutMs: 2000 });
    const err = await down.get('acme', 'github-token').then(() => undefined, (e: unknown) => e as SecretProviderError);
    expect(err).toBeInstanceOf(SecretProviderError);
    expect(err?.retryable).toBe(true);
  });
});

describe('aws secrets manager', () => {
  it('speaks JSON 1.1 with a SigV4 signature, reads a VersionId, and refuses an unknown access key', async () => {
    const first = aws.put('kortix/acme/aws-rot', 'first');
    aws.put('kortix/acme/aws-rot', 'second');
    const p = awsProvider();
    expect((await p.get('acme', 'aws-rot')).value).toBe('second');
    expect(await p.get('acme', 'aws-rot', { version: first })).toEqual({ value: 'first', version: first });
    const req = aws.requests.at(-1);
    expect(req).toMatchObject({ target: 'secretsmanager.GetSecretValue', signed: true, body: { SecretId: 'kortix/acme/aws-rot', VersionId: first } });
    const refused = await awsProvider('AKIDUNKNOWN').get('acme', 'aws-rot').then(() => undefined, (e: unknown) => e as Error);
    expect(refused).toBeInstanceOf(SecretAccessError);
    expect(refused?.message).toMatch(/UnrecognizedClientException/);
  });
});

describe('files', () => {
  it('refuses a symbolic link (to another tenant\'s secret or any file) and a tenant folder that is a link', async () => {
    mkdirSync(join(dir, 'acme'), { recursive: true });
    mkdirSync(join(dir, 'globex'), { recursive: true });
    writeFileSync(join(dir, 'globex', 'theirs'), 'globex-only');
    symlinkSync(join(dir, 'globex', 'theirs'), join(dir, 'acme', 'stolen'));
    symlinkSync('/etc/passwd', join(dir, 'acme', 'passwd'));
    const p = new FileSecrets(dir);
    await expect(p.get('acme', 'stolen')).rejects.toBeInstanceOf(SecretAccessError);
    await expect(p.get('acme', 'passwd')).rejects.toThrow(/symbolic link/);
    symlinkSync(join(dir, 'globex'), join(dir, 'initech'));
    await expect(p.get('initech', 'theirs')).rejects.toThrow(/outside its tenant's folder/);
  });
});
