/**
 * The egress proxy's internal-address check: every IANA special-purpose
 * IPv4 block, IPv6 outside global unicast and its special blocks, and the
 * forms a literal can take to slip past a naive check (IPv4-mapped and
 * -compatible IPv6, NAT64, 6to4, inet_aton's decimal, hex and octal IPv4).
 */
import { describe, expect, it } from 'vitest';
import { addressLiteral, isInternalAddress, parseIPv4, parseIPv6 } from '../../policies/internal-address.js';

const verdicts = (list: readonly string[]) => list.map((a) => [a, isInternalAddress(a)]);

describe('isInternalAddress', () => {
  it('refuses every special-purpose IPv4 block, at both ends', () => {
    const internal = [
      '0.0.0.0', '0.255.255.255', '10.0.0.1', '10.255.255.255', '100.64.0.0', '100.127.255.255', '127.0.0.1', '127.255.255.254',
      '169.254.0.1', '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.0.0.1', '192.0.0.170', '192.0.0.255', '192.0.2.1',
      '192.31.196.1', '192.52.193.1', '192.88.99.1', '192.168.0.1', '192.175.48.1', '198.18.0.1', '198.19.255.255', '198.51.100.7',
      '203.0.113.9', '224.0.0.1', '239.255.255.255', '240.0.0.1', '255.255.255.255',
    ];
    expect(verdicts(internal)).toEqual(internal.map((a) => [a, true]));
  });

  it('lets public IPv4 through, including the neighbours of each block', () => {
    const external = ['1.1.1.1', '8.8.8.8', '93.184.216.34', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.0.1.0', '198.17.255.255', '198.20.0.0', '223.255.255.255'];
    expect(verdicts(external)).toEqual(external.map((a) => [a, false]));
  });

  it('refuses IPv6 outside global unicast and its special blocks', () => {
    const internal = [
      '::', '::1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'febf::1', 'fec0::1', 'feff::1', 'ff02::1', '100::1', '64:ff9b::a9fe:a9fe',
      '64:ff9b::169.254.169.254', '64:ff9b:1::1', '2001::1', '2001:0:4136:e378::1', '2001:db8::1', '2002:a9fe:a9fe::1', '2002::', '3fff::1',
      'fe80::1%eth0',
    ];
    expect(verdicts(internal)).toEqual(internal.map((a) => [a, true]));
    const external = ['2606:2800:220:1:248:1893:25c8:1946', '2a00:1450:4001:81b::200e', '2001:4860:4860::8888'];
    expect(verdicts(external)).toEqual(external.map((a) => [a, false]));
  });

  it('judges IPv4-mapped IPv6 by the IPv4 address it carries, and refuses IPv4-compatible forms outright', () => {
    expect(verdicts(['::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '::FFFF:127.0.0.1', '0:0:0:0:0:ffff:10.0.0.1'])).toEqual([
      ['::ffff:169.254.169.254', true],
      ['::ffff:a9fe:a9fe', true],
      ['::FFFF:127.0.0.1', true],
      ['0:0:0:0:0:ffff:10.0.0.1', true],
    ]);
    expect(isInternalAddress('::ffff:8.8.8.8')).toBe(false);
    // ::a.b.c.d (deprecated IPv4-compatible) is never a destination, public IPv4 inside or not.
    expect(verdicts(['::169.254.169.254', '::127.0.0.1', '::8.8.8.8', '::a9fe:a9fe'])).toEqual([
      ['::169.254.169.254', true],
      ['::127.0.0.1', true],
      ['::8.8.8.8', true],
      ['::a9fe:a9fe', true],
    ]);
  });

  it('reads IPv4 literals as inet_aton does: decimal, hex, octal, short forms', () => {
    expect(verdicts(['0xA9FEA9FE', '2130706433', '0x7f.1', '0177.0.0.1', '0251.0376.0251.0376', '169.254.43518', '0', '017700000001'])).toEqual([
      ['0xA9FEA9FE', true],
      ['2130706433', true],
      ['0x7f.1', true],
      ['0177.0.0.1', true],
      ['0251.0376.0251.0376', true],
      ['169.254.43518', true],
      ['0', true],
      ['017700000001', true],
    ]);
    expect(isInternalAddress('134744072')).toBe(false); // 8.8.8.8
    expect(parseIPv4('0xA9FEA9FE')).toBe(0xa9fea9fe);
    expect(parseIPv4('1.2.3.4.5')).toBeUndefined();
    expect(parseIPv4('256.1.1.1')).toBeUndefined();
    expect(parseIPv4('1.2.65536')).toBeUndefined();
    expect(parseIPv4('08.1.1.1')).toBeUndefined();
  });

  it('fails closed on what it cannot parse', () => {
    expect(verdicts(['', 'not-an-address', '1::2::3', 'gggg::1', '1:2:3:4:5:6:7:8:9', '::ffff:300.1.1.1'])).toEqual(
      ['', 'not-an-address', '1::2::3', 'gggg::1', '1:2:3:4:5:6:7:8:9', '::ffff:300.1.1.1'].map((a) => [a, true]),
    );
    expect(parseIPv6('1:2:3:4:5:6:7:8')).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(parseIPv6('::ffff:1.2.3.4')).toEqual([0, 0, 0, 0, 0, 0xffff, 0x0102, 0x0304]);
  });
});

describe('addressLiteral', () => {
  it('turns every literal form into the address, and leaves names alone', () => {
    expect(addressLiteral('0xA9FEA9FE')).toBe('169.254.169.254');
    expect(addressLiteral('2130706433')).toBe('127.0.0.1');
    expect(addressLiteral('[::ffff:169.254.169.254]')).toBe('::ffff:169.254.169.254');
    expect(addressLiteral('93.184.216.34')).toBe('93.184.216.34');
    for (const name of ['example.com', 'cafe.bad', '1e100.net', '123.com', 'localhost']) expect([name, addressLiteral(name)]).toEqual([name, undefined]);
  });
});
