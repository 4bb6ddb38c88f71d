/**
 * ICMP errors about balanced flows (IPVS `ip_vs_in_icmp`, `ip_vs_out_icmp`): the quoted header
 * of an error names the flow it is about, and the error belongs to whichever end of that flow
 * sent the quoted packet.
 *
 * - To a real server: a router between the balancer and the client sends "fragmentation needed",
 *   "unreachable" or "time exceeded" about a packet the real server sent to the client. Its
 *   source was the VIP (DR and TUN real servers send from the VIP; NAT replies get it from us),
 *   so the error comes to the VIP, quoting VIP:vport -> client:cport. In DR it is sent on as it
 *   is, in TUN encapsulated; in NAT it is translated first: the outer destination and the quoted
 *   source address and port become the real server's (RFC 5508 4.2: a NAT translates the
 *   embedded header too, or the receiver cannot match it to its connection).
 * - To a client (NAT only): a real server's error about a packet the client sent through us,
 *   quoting client:cport -> real:rport, gets the VIP and virtual port in place of the real
 *   server's on the outside and in the quote, and is routed on with its TTL decremented.
 *
 * The checksums that change are the outer IPv4 header's (RFC 1624), the quoted IPv4 header's and
 * the quoted TCP/UDP checksum when the quote holds it (adjusted like a packet's, RFC 1624), and
 * the ICMP checksum, recomputed over the message after verifying the one that came (errors are
 * rare, and a verified checksum keeps forged junk from being relayed as valid).
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "../../stack/wire/bytes.ts";
import { checksumAdjust16, checksumAdjust32, internetChecksum } from "../../stack/wire/checksum.ts";
import { IP_PROTO_TCP, IP_PROTO_UDP } from "../../stack/wire/ipv4.ts";
import { ICMP_DEST_UNREACHABLE, ICMP_TIME_EXCEEDED } from "../../stack/wire/icmp.ts";
import { decrementTtl } from "./rewrite.ts";

/** ICMP source quench (RFC 792), deprecated by RFC 6633: hosts and routers ignore it. */
export const ICMP_SOURCE_QUENCH = 4;

/** The flow an ICMP error quotes (one reused object; fields valid after a null parse). */
export interface IcmpQuote {
  /** ICMP type and code. */
  type: number;
  code: number;
  /** Offset of the ICMP header. */
  icmpOff: number;
  /** Offset of the quoted IPv4 header and of its transport header. */
  innerOff: number;
  innerL4Off: number;
  /** Bytes of the quote from `innerL4Off` to the end of the packet. */
  innerL4Len: number;
  /** Quoted protocol (6 or 17), addresses and ports. */
  protocol: number;
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

/** A fresh quote object for {@link parseIcmpQuote}. */
export function newIcmpQuote(): IcmpQuote {
  return {
    type: 0,
    code: 0,
    icmpOff: 0,
    innerOff: 0,
    innerL4Off: 0,
    innerL4Len: 0,
    protocol: 0,
    src: 0,
    dst: 0,
    sport: 0,
    dport: 0,
  };
}

/** Not an error the balancer relays (an echo, a redirect, ...): leave it to the stack. */
export const QUOTE_NOT_RELAYED = "not_relayed";

/**
 * Reads the ICMP message of the IPv4 packet `buf[ipOff .. ipOff+ipLen)` into `q`. Returns null
 * for a destination unreachable, source quench or time exceeded error that quotes a TCP or UDP
 * packet with at least its ports (RFC 792: the header and 64 bits); {@link QUOTE_NOT_RELAYED} for
 * any other ICMP message; else the drop counter's name.
 */
export function parseIcmpQuote(
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  q: IcmpQuote,
): string | null {
  const hl = (buf[ipOff] & 0x0f) << 2;
  const icmpOff = ipOff + hl;
  const icmpLen = ipLen - hl;
  if (icmpLen < 8) return "lb.drop_icmp_truncated";
  const type = buf[icmpOff];
  if (
    type !== ICMP_DEST_UNREACHABLE && type !== ICMP_TIME_EXCEEDED && type !== ICMP_SOURCE_QUENCH
  ) {
    return QUOTE_NOT_RELAYED;
  }
  const innerOff = icmpOff + 8;
  const quoted = icmpLen - 8;
  if (quoted < 20 || buf[innerOff] >>> 4 !== 4) return "lb.drop_icmp_bad_quote";
  const ihl = (buf[innerOff] & 0x0f) << 2;
  const protocol = buf[innerOff + 9];
  if (protocol !== IP_PROTO_TCP && protocol !== IP_PROTO_UDP) return QUOTE_NOT_RELAYED;
  if (ihl < 20 || quoted < ihl + 4) return "lb.drop_icmp_bad_quote";
  if (internetChecksum(buf, icmpOff, icmpLen) !== 0) return "lb.drop_icmp_bad_checksum";
  q.type = type;
  q.code = buf[icmpOff + 1];
  q.icmpOff = icmpOff;
  q.innerOff = innerOff;
  q.innerL4Off = innerOff + ihl;
  q.innerL4Len = quoted - ihl;
  q.protocol = protocol;
  q.src = readU32(buf, innerOff + 12);
  q.dst = readU32(buf, innerOff + 16);
  q.sport = readU16(buf, q.innerL4Off);
  q.dport = readU16(buf, q.innerL4Off + 2);
  return null;
}

/**
 * NAT, toward the real server: the error came to the VIP about VIP:vport -> client; the outer
 * destination and the quoted source become `realIp:realPort`. Checksums as in the module comment.
 */
export function translateIcmpToReal(
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  q: IcmpQuote,
  realIp: number,
  realPort: number,
): void {
  setAddress(buf, ipOff, 16, realIp);
  translateQuote(buf, q, 12, 0, realIp, realPort);
  finishIcmp(buf, ipOff, ipLen, q);
}

/**
 * NAT, toward the client: a real server's error about client -> real:rport; the outer source
 * and the quoted destination become `vip:vport`, and the TTL drops by one (a routed packet).
 */
export function translateIcmpToClient(
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  q: IcmpQuote,
  vip: number,
  vport: number,
): void {
  setAddress(buf, ipOff, 12, vip);
  decrementTtl(buf, ipOff);
  translateQuote(buf, q, 16, 2, vip, vport);
  finishIcmp(buf, ipOff, ipLen, q);
}

/** Writes an address into the IPv4 header at `ipOff` (12 source, 16 destination), RFC 1624. */
function setAddress(buf: Uint8Array, ipOff: number, at: number, addr: number): void {
  const old = readU32(buf, ipOff + at);
  writeU32(buf, ipOff + at, addr);
  writeU16(buf, ipOff + 10, checksumAdjust32(readU16(buf, ipOff + 10), old, addr));
}

/**
 * The quoted packet's address at `addrAt` (12 or 16) and port at `portAt` (0 or 2) become
 * `addr:port`: its IPv4 header checksum is adjusted, and its TCP/UDP checksum when the quote
 * holds it (a zero UDP checksum stays "none", RFC 768).
 */
function translateQuote(
  buf: Uint8Array,
  q: IcmpQuote,
  addrAt: number,
  portAt: number,
  addr: number,
  port: number,
): void {
  const oldAddr = readU32(buf, q.innerOff + addrAt);
  const oldPort = readU16(buf, q.innerL4Off + portAt);
  setAddress(buf, q.innerOff, addrAt, addr);
  writeU16(buf, q.innerL4Off + portAt, port);
  const cAt = q.protocol === IP_PROTO_UDP ? 6 : 16;
  if (q.innerL4Len < cAt + 2) return;
  const old = readU16(buf, q.innerL4Off + cAt);
  if (q.protocol === IP_PROTO_UDP && old === 0) return;
  let c = checksumAdjust32(old, oldAddr, addr);
  c = checksumAdjust16(c, oldPort, port);
  if (q.protocol === IP_PROTO_UDP && c === 0) c = 0xffff;
  writeU16(buf, q.innerL4Off + cAt, c);
}

/** Recomputes the ICMP checksum over the message (RFC 792). */
function finishIcmp(buf: Uint8Array, ipOff: number, ipLen: number, q: IcmpQuote): void {
  const len = ipLen - (q.icmpOff - ipOff);
  writeU16(buf, q.icmpOff + 2, 0);
  writeU16(buf, q.icmpOff + 2, internetChecksum(buf, q.icmpOff, len));
}
