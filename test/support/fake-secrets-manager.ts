/**
 * An in-process AWS Secrets Manager speaking the AWS JSON 1.1 protocol as the
 * SDK sends it: `POST /` with `Content-Type: application/x-amz-json-1.1`,
 * `X-Amz-Target: secretsmanager.<Operation>` and a SigV4 `Authorization`
 * header (`AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/secretsmanager/aws4_request, ...`),
 * whose access key id must be known (the signature itself is not verified:
 * the SDK computes it, this fake only checks that it is there and well formed).
 * Operations: GetSecretValue (SecretId by name or ARN, VersionId,
 * VersionStage) and ListSecrets (name filter). Errors as AWS answers them:
 * HTTP 400, `x-amzn-ErrorType`, body `{"__type": "...", "message": "..."}`
 * (ResourceNotFoundException, UnrecognizedClientException,
 * IncompleteSignatureException, InvalidRequestException).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

interface StoredVersion {
  readonly id: string;
  readonly value: string;
  readonly created: number;
  stages: string[];
}

export interface SecretsManagerRequest {
  readonly target: string;
  readonly body: Record<string, unknown>;
  readonly signed: boolean;
}

export class FakeSecretsManager {
  readonly requests: SecretsManagerRequest[] = [];
  readonly #secrets = new Map<string, StoredVersion[]>();
  readonly #keys = new Set<string>();
  readonly region: string;
  #server: Server | undefined;
  url = '';

  constructor(options: { region?: string } = {}) {
    this.region = options.region ?? 'us-east-1';
  }

  addAccessKey(id: string): void {
    this.#keys.add(id);
  }

  arn(name: string): string {
    return `arn:aws:secretsmanager:${this.region}:123456789012:secret:${name}-AbCdEf`;
  }

  /** `aws secretsmanager put-secret-value`: a new AWSCURRENT version (the previous one becomes AWSPREVIOUS); returns its VersionId. */
  put(name: string, value: string): string {
    const versions = this.#secrets.get(name) ?? [];
    for (const v of versions) v.stages = v.stages.includes('AWSCURRENT') ? ['AWSPREVIOUS'] : [];
    const id = randomUUID();
    versions.push({ id, value, created: Date.now() / 1000, stages: ['AWSCURRENT'] });
    this.#secrets.set(name, versions);
    return id;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString('utf8')));
      req.on('end', () => this.#handle(req, res, body));
    });
    await new Promise<void>((r) => this.#server?.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.#server.address() as { port: number }).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }

  #handle(req: IncomingMessage, res: ServerResponse, raw: string): void {
    const reply = (status: number, payload: unknown, errorType?: string) => {
      res.writeHead(status, {
        'content-type': 'application/x-amz-json-1.1',
        'x-amzn-requestid': randomUUID(),
        ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
      });
      res.end(JSON.stringify(payload));
    };
    const error = (type: string, message: string) => reply(400, { __type: type, message, Message: message }, type);
    const target = String(req.headers['x-amz-target'] ?? '');
    const auth = String(req.headers.authorization ?? '');
    const signed = /^AWS4-HMAC-SHA256 Credential=[^/]+\/\d{8}\/[a-z0-9-]+\/secretsmanager\/aws4_request, SignedHeaders=[^,]+, Signature=[0-9a-f]{64}$/.test(auth);
    let body: Record<string, unknown> = {};
    try {
      body = raw ? (JSON.parse(raw) as Record<string, unknown>) : {};
    } catch {
      return error('SerializationException', 'the request body is not JSON');
    }
    this.requests.push({ target, body, signed });
    if (req.method !== 'POST' || req.headers['content-type'] !== 'application/x-amz-json-1.1') return error('UnknownOperationException', 'expected POST with application/x-amz-json-1.1');
    if (!signed) return error('IncompleteSignatureException', 'Authorization header requires a valid AWS4-HMAC-SHA256 signature');
    const keyId = /Credential=([^/]+)\//.exec(auth)?.[1] ?? '';
    if (!this.#keys.has(keyId)) return error('UnrecognizedClientException', 'The security token included in the request is invalid.');
    if (target === 'secretsmanager.GetSecretValue') {
      const id = String(body.SecretId ?? '');
      const name = [...this.#secrets.keys()].find((n) => n === id || this.arn(n) === id);
      const versions = name ? this.#secrets.get(name) : undefined;
      const v =
        typeof body.VersionId === 'string'
          ? versions?.find((x) => x.id === body.VersionId)
          : versions?.find((x) => x.stages.includes(typeof body.VersionStage === 'string' ? body.VersionStage : 'AWSCURRENT'));
      if (!name || !v) return error('ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
      return reply(200, { ARN: this.arn(name), Name: name, VersionId: v.id, SecretString: v.value, VersionStages: v.stages, CreatedDate: v.created });
    }
    if (target === 'secretsmanager.ListSecrets') {
      const filters = (body.Filters as { Key?: string; Values?: string[] }[] | undefined) ?? [];
      const prefixes = filters.filter((f) => f.Key === 'name').flatMap((f) => f.Values ?? []);
      const list = [...this.#secrets.keys()].filter((n) => prefixes.length === 0 || prefixes.some((p) => n.startsWith(p)));
      return reply(200, { SecretList: list.sort().map((n) => ({ ARN: this.arn(n), Name: n })) });
    }
    return error('UnknownOperationException', `unknown operation ${target}`);
  }
}
