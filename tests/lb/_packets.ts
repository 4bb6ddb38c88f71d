/**
 * Packet builders for the balancer's fixture tests, written byte by byte with full checksums
 * (tests/stack/net/_frames.ts, plus TCP here), independently of stack/wire and of the RFC 1624
 * updates under test: an expected frame is built from scratch and compared with what the
 * balancer sent.
 *
 * @module
 */

import { checksum, concat, eth, ipv4, mac, r16 } from "../stack/net/_frames.ts";

/** The byte-level builders of the stack tests, re-exported. */
export { concat, eth, ip, ipv4, mac, pattern, r16, r32, udp } from "../stack/net/_frames.ts";

function u16(b: Uint8Array, off: number, v: number): void {
  b[off] = (v >>> 8) & 0xff;
  b[off + 1] = v & 0xff;
}

function u32(b: Uint8Array, off: number, v: number): void {
  u16(b, off, v >>> 16);
  u16(b, off + 2, v & 0xffff);
}

/** TCP flag bits. */
export const FIN = 0x01, SYN = 0x02, RST = 0x04, PSH = 0x08, ACK = 0x10;

/** Fields of {@link tcp}. */
export interface Tcp {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  flags: number;
  seq?: number;
  ack?: number;
  window?: number;
  data?: Uint8Array;
  /** Option bytes (a multiple of 4). */
  options?: number[];
}

/** A TCP segment with the RFC 9293 3.1 checksum over the pseudo-header. */
export function tcp(h: Tcp): Uint8Array {
  const opts = h.options ?? [];
  const hl = 20 + opts.length;
  const data = h.data ?? new Uint8Array(0);
  const b = new Uint8Array(hl + data.length);
  u16(b, 0, h.sport);
  u16(b, 2, h.dport);
  u32(b, 4, h.seq ?? 1000);
  u32(b, 8, h.ack ?? 0);
  b[12] = (hl >>> 2) << 4;
  b[13] = h.flags;
  u16(b, 14, h.window ?? 64240);
  b.set(opts, 20);
  b.set(data, hl);
  const pseudo = new Uint8Array(12 + b.length);
  u32(pseudo, 0, h.src);
  u32(pseudo, 4, h.dst);
  pseudo[9] = 6;
  u16(pseudo, 10, b.length);
  pseudo.set(b, 12);
  u16(b, 16, checksum(pseudo));
  return b;
}

/** A TCP/IPv4 packet (IP header with checksum, TTL 64 unless given). */
export function tcpPacket(h: Tcp, ip: { ttl?: number; id?: number; df?: boolean } = {}) {
  return ipv4({ src: h.src, dst: h.dst, protocol: 6, ttl: ip.ttl, id: ip.id, df: ip.df }, tcp(h));
}

/** An Ethernet frame carrying an IPv4 packet. */
export function frame(dstMac: Uint8Array, srcMac: Uint8Array, packet: Uint8Array): Uint8Array {
  return concat(eth(dstMac, srcMac, 0x0800), packet);
}

/** The MAC written as "aa:bb:...", for messages. */
export function macText(b: Uint8Array, off = 0): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, "0")).join(":");
}

/** True when the RFC 1071 sum over the IPv4 header at `off` verifies. */
export function ipHeaderOk(b: Uint8Array, off: number): boolean {
  return checksum(b, off, (b[off] & 0x0f) << 2) === 0;
}

/** Hex dump of the first differing region, for assertion messages. */
export function diff(actual: Uint8Array, expected: Uint8Array): string {
  if (actual.length !== expected.length) {
    return `length ${actual.length} != expected ${expected.length}`;
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) {
      return `byte ${i}: ${actual[i].toString(16)} != expected ${expected[i].toString(16)} ` +
        `(u16 there: ${r16(actual, i & ~1).toString(16)} vs ${r16(expected, i & ~1).toString(16)})`;
    }
  }
  return "equal";
}

/** A MAC from its last byte: 02:00:00:00:00:xx. */
export function macN(n: number): Uint8Array {
  return mac(`02:00:00:00:00:${n.toString(16).padStart(2, "0")}`);
}

/** An ICMP error (type, code, 32-bit rest of header) quoting `quoted`, with its checksum. */
export function icmpError(type: number, code: number, rest: number, quoted: Uint8Array) {
  const b = new Uint8Array(8 + quoted.length);
  b[0] = type;
  b[1] = code;
  u32(b, 4, rest);
  b.set(quoted, 8);
  u16(b, 2, checksum(b));
  return b;
}
