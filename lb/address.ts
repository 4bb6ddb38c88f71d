/**
 * Addresses of both families in the balancer's configuration: one `number` per address, so the
 * service and real-server keys, maps and comparisons of the IPv4-only code stay as they were.
 *
 * - An IPv4 address is its u32 value (0 .. 2^32-1), as everywhere in the stack.
 * - An IPv6 address is a handle: 2^32 + its index in this process's registry of configured IPv6
 *   addresses ({@link internIpv6}), so the same address always gets the same handle and the two
 *   families never collide. Handles are local to the process: what crosses the control channel or
 *   a file is the text ({@link formatAddress}, {@link parseAddress}).
 *
 * The packet path never interns: it compares the 16 bytes of a packet with a service's or real
 * server's `Uint8Array` and hashes them with {@link fold128}. Interning is for configured
 * addresses (VIPs, real servers), so the registry is bounded by what an operator configures.
 *
 * @module
 */

import { formatIpv4, parseIpv4 } from "../stack/wire/address.ts";
import { formatIpv6, parseIpv6 } from "../stack/wire/address6.ts";
import { murmurFinish, murmurRound } from "./scheduler/hash.ts";

/** The first IPv6 handle: every handle is at least this, every IPv4 address below it. */
export const IPV6_HANDLE_BASE = 2 ** 32;

const registry: Uint8Array[] = [];
const byText = new Map<string, number>();

/** The handle of the IPv6 address `a[off .. off+16)` (control path: allocates the first time). */
export function internIpv6(a: Uint8Array, off = 0): number {
  const text = formatIpv6(a, off);
  const known = byText.get(text);
  if (known !== undefined) return known;
  const handle = IPV6_HANDLE_BASE + registry.length;
  registry.push(a.slice(off, off + 16));
  byText.set(text, handle);
  return handle;
}

/** True when `address` is an IPv6 handle (else an IPv4 u32). */
export function isIpv6Address(address: number): boolean {
  return address >= IPV6_HANDLE_BASE;
}

/** The 16 bytes of an IPv6 handle (shared: do not change them), or null for anything else. */
export function ipv6Bytes(address: number): Uint8Array | null {
  if (!Number.isInteger(address) || address < IPV6_HANDLE_BASE) return null;
  return registry[address - IPV6_HANDLE_BASE] ?? null;
}

/** True for an IPv4 u32 or a known IPv6 handle. */
export function isAddress(address: number): boolean {
  if (!Number.isInteger(address) || address < 0) return false;
  return address <= 0xffffffff || ipv6Bytes(address) !== null;
}

/** "10.0.0.1" or "2001:db8::1" (RFC 5952 text, no brackets). */
export function formatAddress(address: number): string {
  const b = ipv6Bytes(address);
  return b === null ? formatIpv4(address) : formatIpv6(b);
}

/** "10.0.0.1:80" or "[2001:db8::1]:80", as ipvsadm -L -n prints them. */
export function formatAddressPort(address: number, port: number): string {
  const b = ipv6Bytes(address);
  return b === null ? `${formatIpv4(address)}:${port}` : `[${formatIpv6(b)}]:${port}`;
}

/** An IPv4 address (u32) or an IPv6 address (a handle) from text without brackets; or null. */
export function parseAddress(text: string): number | null {
  const v4 = parseIpv4(text);
  if (v4 !== null) return v4;
  if (!text.includes(":")) return null;
  const v6 = parseIpv6(text);
  return v6 === null ? null : internIpv6(v6);
}

/**
 * Splits `HOST[:PORT]` where HOST is IPv4 or a bracketed IPv6 address (`[2001:db8::1]:80`, as
 * ipvsadm writes it); an IPv6 address without a port may be given bare. Returns the host text
 * (brackets removed) and the port text (undefined when absent), or null when the shape is wrong.
 */
export function splitHostPort(text: string): { host: string; port?: string } | null {
  if (text.startsWith("[")) {
    const m = /^\[([^\]]+)\](?::([^:]*))?$/.exec(text);
    return m === null ? null : { host: m[1], port: m[2] };
  }
  const colons = text.split(":").length - 1;
  if (colons === 0) return text === "" ? null : { host: text };
  if (colons === 1) {
    const [host, port] = text.split(":");
    return host === "" ? null : { host, port };
  }
  return { host: text }; // a bare IPv6 address: no port can follow without brackets
}

/** The family of an address: 4 or 6. */
export function familyOf(address: number): 4 | 6 {
  return isIpv6Address(address) ? 6 : 4;
}

/**
 * A 30-bit hash of the 128-bit address `buf[off .. off+16)` (MurmurHash3 over its four words):
 * what the hashing schedulers and persistence take for an IPv6 client (seed 0, the same in every
 * instance), and the connection table's fold of an address (its own random seed). Allocates
 * nothing.
 */
export function fold128(seed: number, buf: Uint8Array, off: number): number {
  let h = seed | 0;
  for (let i = 0; i < 16; i += 4) {
    h = murmurRound(
      h,
      (buf[off + i] << 24) | (buf[off + i + 1] << 16) | (buf[off + i + 2] << 8) | buf[off + i + 3],
    );
  }
  // 30 bits: a V8 small integer on every platform, never a boxed heap number when it is passed
  // or returned (a u32 above 2^30 is one, per packet).
  return murmurFinish(h, 16) & 0x3fffffff;
}

/** The number a scheduler hashes for `address`: the u32 itself, or the fold of an IPv6 one. */
export function schedulingKey(address: number): number {
  const b = ipv6Bytes(address);
  return b === null ? address : fold128(0, b, 0);
}

/** True when `a[aOff ..+16)` and `b[bOff ..+16)` are the same address (stack/wire/address6.ts). */
export { equalIpv6 as equal16 } from "../stack/wire/address6.ts";
