/**
 * Which addresses a sandbox's traffic may never reach through the egress
 * proxy by name: everything that is not plainly global unicast. Pure; no I/O.
 *
 * IPv4: the IANA special-purpose registry (iana-ipv4-special-registry), whole,
 * plus multicast and the reserved 240/4. IPv6: only global unicast (2000::/3)
 * passes, minus its special-purpose blocks; an IPv4-mapped address is judged
 * by the IPv4 address it carries, and the forms that embed or translate IPv4
 * to somewhere (IPv4-compatible ::a.b.c.d, NAT64, 6to4, Teredo) never pass.
 *
 * Literals are parsed the way inet_aton does (what a resolver or libc accepts
 * from a URL): `2130706433`, `0x7f.1`, `0177.0.0.1` are all 127.0.0.1.
 */

/** [first address, prefix length] of IPv4 blocks that are not globally reachable or are special-purpose. */
const V4_BLOCKS: readonly (readonly [string, number])[] = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local, cloud metadata (169.254.169.254)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments (DS-Lite, NAT64 discovery, ...)
  ['192.0.2.0', 24], // TEST-NET-1
  ['192.31.196.0', 24], // AS112-v4
  ['192.52.193.0', 24], // AMT
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['192.175.48.0', 24], // direct delegation AS112
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // TEST-NET-2
  ['203.0.113.0', 24], // TEST-NET-3
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255 broadcast
];

/** IPv6 blocks inside 2000::/3 that are special-purpose (everything outside 2000::/3 is refused anyway). */
const V6_BLOCKS: readonly (readonly [string, number])[] = [
  ['2001::', 23], // IETF protocol assignments: Teredo 2001::/32, benchmarking, ORCHID, ...
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: carries an IPv4 address to anywhere
  ['3fff::', 20], // documentation (RFC 9637)
];

/** inet_aton: 1 to 4 parts, each decimal, 0x-hex or 0-octal; the last fills the remaining bytes. */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length > 4) return undefined;
  const values: number[] = [];
  for (const part of parts) {
    let v: number;
    if (/^0x[0-9a-f]*$/i.test(part)) v = part.length === 2 ? 0 : parseInt(part.slice(2), 16);
    else if (/^0[0-7]*$/.test(part)) v = part.length === 1 ? 0 : parseInt(part.slice(1), 8);
    else if (/^[1-9][0-9]*$/.test(part)) v = Number(part);
    else return undefined;
    if (!Number.isSafeInteger(v)) return undefined;
    values.push(v);
  }
  const last = values.pop() as number;
  if (values.some((v) => v > 255) || last >= 2 ** (8 * (4 - values.length))) return undefined;
  return values.reduce((acc, v, i) => acc + v * 2 ** (8 * (3 - i)), 0) + last;
}

/** Eight 16-bit groups, or undefined; accepts `::`, a trailing dotted IPv4 and a zone (`%eth0`, dropped). */
export function parseIPv6(text: string): number[] | undefined {
  const bare = text.replace(/^\[|\]$/g, '').split('%')[0] ?? '';
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(bare);
  let head = bare;
  let tail: number[] = [];
  if (v4?.[1] && v4[2]) {
    const octets = v4[2].split('.').map(Number);
    if (octets.some((o) => o > 255) || v4[2].split('.').some((o) => o.length > 1 && o.startsWith('0'))) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = octets;
    head = v4[1].endsWith('::') ? v4[1] : v4[1].slice(0, -1);
    tail = [a * 256 + b, c * 256 + d];
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(halves[0] ?? '');
  const right = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if ([...left, ...right].some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  const known = left.length + right.length + tail.length;
  if (halves.length === 1 ? known !== 8 : known > 7) return undefined;
  const zeros = new Array<number>(8 - known).fill(0);
  return [...left.map((g) => parseInt(g, 16)), ...zeros, ...right.map((g) => parseInt(g, 16)), ...tail];
}

const v4Mask = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

function inV4Block(address: number, [first, prefix]: readonly [string, number]): boolean {
  const base = parseIPv4(first) as number;
  return ((address & v4Mask(prefix)) >>> 0) === ((base & v4Mask(prefix)) >>> 0);
}

function inV6Block(groups: readonly number[], [first, prefix]: readonly [string, number]): boolean {
  const base = parseIPv6(first) as number[];
  for (let i = 0, left = prefix; left > 0; i++, left -= 16) {
    const bits = Math.min(16, left);
    const mask = (0xffff << (16 - bits)) & 0xffff;
    if (((groups[i] ?? 0) & mask) !== ((base[i] ?? 0) & mask)) return false;
  }
  return true;
}

function internalV4(address: number): boolean {
  return V4_BLOCKS.some((block) => inV4Block(address, block));
}

/** True for every address the proxy must not connect a name to; also for anything it cannot parse (fail closed). */
export function isInternalAddress(address: string): boolean {
  const v4 = /^[0-9a-fx.]+$/i.test(address) ? parseIPv4(address) : undefined;
  if (v4 !== undefined) return internalV4(v4);
  const v6 = address.includes(':') ? parseIPv6(address) : undefined;
  if (!v6) return true;
  if (address.includes('%')) return true; // a zone: link-scoped by definition
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = v6;
  // IPv4-mapped ::ffff:a.b.c.d is that IPv4 address on a dual-stack socket.
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) return internalV4(g6 * 65536 + g7);
  if ((g0 & 0xe000) !== 0x2000) return true; // not global unicast: ::/96 compat, 64:ff9b::, fc00::/7, fe80::/10, fec0::/10, ff00::/8, ...
  return V6_BLOCKS.some((block) => inV6Block(v6, block));
}

/** The canonical form of an address literal in any form a resolver accepts (`0xA9FEA9FE` → 169.254.169.254); undefined for names. */
export function addressLiteral(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  if (/^[0-9a-fx.]+$/i.test(bare) && /^(0x|\d)/i.test(bare)) {
    const v4 = parseIPv4(bare);
    if (v4 !== undefined) return [24, 16, 8, 0].map((s) => (v4 >>> s) & 255).join('.');
  }
  return bare.includes(':') && parseIPv6(bare) ? bare.toLowerCase() : undefined;
}
