/**
 * The egress proxy's certificate authority: it lets the proxy terminate TLS
 * for the hosts a secret is bound to (and only those), so that it can add
 * the secret's header to requests the sandbox sends over HTTPS. One CA per
 * deployment, kept in a directory (SANDBOX_EGRESS_CA_DIR: ca.pem, and
 * ca-key.pem readable by its owner only), made there on first start; a
 * restarted worker reads it back, so sandboxes that already trust it keep
 * working. Leaf certificates (one per host, one key for all) are minted on
 * demand, valid for a week, and kept in memory.
 *
 * What it trades: a sandbox trusts this CA for every name, so whoever holds
 * ca-key.pem can impersonate any site to the sandboxes (not to anything
 * else: nothing outside the sandboxes trusts it). The proxy sees the
 * plaintext of bound hosts' traffic, and pinned clients (certificate pinning)
 * fail for those hosts.
 */
import { createPublicKey, generateKeyPairSync, randomBytes, sign as nodeSign } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import forge from 'node-forge';

const DAY_MS = 86_400_000;

function rsaKeys(): { publicKey: string; privateKey: string } {
  // Node makes the key (fast, native); forge only assembles and signs certificates.
  return generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
}

/** Signs as forge's cert.sign does (sha256WithRSAEncryption), with Node's native RSA instead of forge's JavaScript one. */
function signCert(cert: forge.pki.Certificate, keyPem: string): void {
  const oid = forge.pki.oids.sha256WithRSAEncryption as string;
  cert.signatureOid = oid;
  cert.siginfo.algorithmOid = oid;
  // getTBSCertificate is part of forge's x509 module, missing from its type declarations.
  const tbs = (forge.pki as typeof forge.pki & { getTBSCertificate(c: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate(cert);
  (cert as forge.pki.Certificate & { tbsCertificate: forge.asn1.Asn1 }).tbsCertificate = tbs;
  cert.signature = nodeSign('sha256', Buffer.from(forge.asn1.toDer(tbs).getBytes(), 'binary'), keyPem).toString('binary');
}

function serial(): string {
  // Positive (the first bit clear) and unique enough: 16 random bytes.
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return bytes.toString('hex');
}

export class EgressCa {
  readonly certPem: string;
  readonly #caCert: forge.pki.Certificate;
  readonly #caKeyPem: string;
  readonly #leafKeys = rsaKeys();
  readonly #contexts = new Map<string, { context: SecureContext; expires: number }>();

  private constructor(certPem: string, keyPem: string) {
    this.certPem = certPem;
    this.#caCert = forge.pki.certificateFromPem(certPem);
    this.#caKeyPem = keyPem;
    // A key that is not the certificate's would sign leaves nobody trusts: refuse it at start.
    const der = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' });
    if (!der(keyPem).equals(der(forge.pki.publicKeyToPem(this.#caCert.publicKey)))) throw new Error('ca-key.pem is not the key of ca.pem');
  }

  /** The CA kept in `dir`, made there when missing (a half-written pair is made again). */
  static loadOrCreate(dir: string): EgressCa {
    const certFile = join(dir, 'ca.pem');
    const keyFile = join(dir, 'ca-key.pem');
    if (existsSync(certFile) && existsSync(keyFile)) {
      try {
        return new EgressCa(readFileSync(certFile, 'utf8'), readFileSync(keyFile, 'utf8'));
      } catch (err) {
        throw new Error(`SANDBOX_EGRESS_CA_DIR: cannot use the CA in ${dir}: ${(err as Error).message}`);
      }
    }
    const { certPem, keyPem } = EgressCa.#make();
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Key first, then the certificate by rename: a reader never sees a certificate without its key.
    writeFileSync(`${keyFile}.tmp`, keyPem, { mode: 0o600 });
    renameSync(`${keyFile}.tmp`, keyFile);
    chmodSync(keyFile, 0o600);
    writeFileSync(`${certFile}.tmp`, certPem);
    renameSync(`${certFile}.tmp`, certFile);
    return new EgressCa(certPem, keyPem);
  }

  /** A CA in memory only (tests). */
  static ephemeral(): EgressCa {
    const { certPem, keyPem } = EgressCa.#make();
    return new EgressCa(certPem, keyPem);
  }

  static #make(): { certPem: string; keyPem: string } {
    const keys = rsaKeys();
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKey);
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - DAY_MS);
    cert.validity.notAfter = new Date(Date.now() + 10 * 365 * DAY_MS);
    const name = [
      { name: 'commonName', value: 'Kortix egress proxy CA' },
      { name: 'organizationName', value: 'Kortix' },
    ];
    cert.setSubject(name);
    cert.setIssuer(name);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    signCert(cert, keys.privateKey);
    return { certPem: forge.pki.certificateToPem(cert), keyPem: keys.privateKey };
  }

  /** The TLS context the proxy presents for `host` (a name or an address), signed by this CA. */
  contextFor(host: string): SecureContext {
    const now = Date.now();
    const known = this.#contexts.get(host);
    if (known && known.expires > now + DAY_MS) return known.context;
    const cert = forge.pki.createCertificate();
    cert.publicKey = forge.pki.publicKeyFromPem(this.#leafKeys.publicKey);
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(now - DAY_MS);
    cert.validity.notAfter = new Date(now + 7 * DAY_MS);
    cert.setSubject([{ name: 'commonName', value: host.slice(0, 64) }]);
    cert.setIssuer(this.#caCert.subject.attributes);
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [isIP(host) ? { type: 7, ip: host } : { type: 2, value: host }] },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#caCert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    signCert(cert, this.#caKeyPem);
    const context = createSecureContext({ key: this.#leafKeys.privateKey, cert: `${forge.pki.certificateToPem(cert)}${this.certPem}` });
    this.#contexts.set(host, { context, expires: cert.validity.notAfter.getTime() });
    return context;
  }
}
