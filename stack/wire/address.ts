/**
 * IPv4 and MAC addresses: parsing, formatting and small predicates.
 *
 * An IPv4 address is a `number` holding the unsigned 32-bit value in host order (`>>> 0`); a MAC
 * address is a 6-byte `Uint8Array` (see docs/ARCHITECTURE.md, "Addresses and numbers").
 *
 * @module
 */

/** The all-ones Ethernet address (IEEE 802.3 broadcast). Shared: never write into it. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** The all-zero Ethernet address (e.g. the unknown target hardware address in an ARP request). */
export const ZERO_MAC: Uint8Array = new Uint8Array(6);

/** The limited broadcast address 255.255.255.255 (RFC 919). */
export const IPV4_BROADCAST = 0xffffffff;

/** Length of a MAC address in bytes. */
export const MAC_LEN = 6;

/** Parses one decimal octet of a dotted quad; -1 unless it is 0..255 without a leading zero. */
function parseOctet(text: string, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 3) return -1;
  // A leading zero ("010") is rejected: inet_aton(3) would read it as octal.
  if (n > 1 && text.charCodeAt(start) === 0x30) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i) - 0x30;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= 255 ? v : -1;
}

/**
 * Parses a strict dotted quad ("10.0.0.2") into its u32 value. Returns null for anything else:
 * fewer or more than four parts, an octet above 255, a leading zero, a sign, spaces or junk.
 */
export function parseIpv4(text: string): number | null {
  let addr = 0;
  let start = 0;
  for (let part = 0; part < 4; part++) {
    let end = text.indexOf(".", start);
    if (part === 3) {
      if (end !== -1) return null;
      end = text.length;
    } else if (end === -1) {
      return null;
    }
    const v = parseOctet(text, start, end);
    if (v < 0) return null;
    addr = addr * 256 + v;
    start = end + 1;
  }
  return addr;
}

/** Formats a u32 IPv4 address as a dotted quad. */
export function formatIpv4(addr: number): string {
  return `${(addr >>> 24) & 0xff}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/**
 * Parses "a.b.c.d/p" (p in 0..32, decimal without a leading zero). The address is returned as
 * written (host bits are kept, as `ip addr` keeps them); mask it with `prefixMask` for the
 * network. A bare address without "/p" is rejected.
 */
export function parseCidr(text: string): { addr: number; prefix: number } | null {
  const slash = text.indexOf("/");
  if (slash < 0) return null;
  const addr = parseIpv4(text.slice(0, slash));
  if (addr === null) return null;
  const p = text.slice(slash + 1);
  if (!/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(p)) return null;
  return { addr, prefix: Number(p) };
}

/** The u32 netmask of a prefix length: 24 -> 0xffffff00, 0 -> 0, 32 -> 0xffffffff. */
export function prefixMask(prefix: number): number {
  // `<< 32` is `<< 0` in JavaScript, so prefix 0 needs its own case.
  return prefix <= 0 ? 0 : prefix >= 32 ? 0xffffffff : (0xffffffff << (32 - prefix)) >>> 0;
}

/** True for a class D address, 224.0.0.0/4 (RFC 5771). */
export function isMulticastIpv4(addr: number): boolean {
  return (addr >>> 28) === 0xe;
}

/** Value of one hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/**
 * Parses "aa:bb:cc:dd:ee:ff" (exactly two hex digits per byte, either case, colon separated) into
 * a new 6-byte array; null for anything else.
 */
export function parseMac(text: string): Uint8Array | null {
  if (text.length !== 17) return null;
  const mac = new Uint8Array(MAC_LEN);
  for (let i = 0; i < MAC_LEN; i++) {
    const p = i * 3;
    if (i > 0 && text.charCodeAt(p - 1) !== 0x3a) return null;
    const hi = hexDigit(text.charCodeAt(p));
    const lo = hexDigit(text.charCodeAt(p + 1));
    if (hi < 0 || lo < 0) return null;
    mac[i] = (hi << 4) | lo;
  }
  return mac;
}

/** Formats the 6 bytes at `buf[off]` as "aa:bb:cc:dd:ee:ff" (lowercase). */
export function formatMac(buf: Uint8Array, off = 0): string {
  let s = "";
  for (let i = 0; i < MAC_LEN; i++) {
    const b = buf[off + i];
    s += (i > 0 ? ":" : "") + (b < 16 ? "0" : "") + b.toString(16);
  }
  return s;
}

/** Compares the 6 bytes at `a[aOff]` with the 6 bytes at `b[bOff]`. */
export function macEquals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  return a[aOff] === b[bOff] && a[aOff + 1] === b[bOff + 1] && a[aOff + 2] === b[bOff + 2] &&
    a[aOff + 3] === b[bOff + 3] && a[aOff + 4] === b[bOff + 4] && a[aOff + 5] === b[bOff + 5];
}

/** True when the MAC at `buf[off]` is a group address (I/G bit, IEEE 802: low bit of byte 0). */
export function isMulticastMac(buf: Uint8Array, off = 0): boolean {
  return (buf[off] & 1) === 1;
}

/**
 * A random locally administered unicast MAC (IEEE 802: U/L bit 0x02 set, I/G bit 0x01 clear), as
 * Linux's eth_random_addr() makes for TAP devices.
 */
export function randomLocalMac(): Uint8Array {
  const mac = crypto.getRandomValues(new Uint8Array(MAC_LEN));
  mac[0] = (mac[0] & 0xfe) | 0x02;
  return mac;
}
