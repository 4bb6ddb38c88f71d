/**
 * The packet an ICMP error quotes (RFC 792: its IP header and at least 64 bits of its data, the
 * ports of TCP and UDP), read without copying: whoever the error is for (a local TCP connection,
 * a balanced flow) is found by the quoted addresses and ports. A pure view, no I/O.
 *
 * @module
 */

import { readU16, readU32 } from "./bytes.ts";
import { internetChecksum } from "./checksum.ts";
import { IP_PROTO_TCP, IP_PROTO_UDP } from "./ipv4.ts";
import { ICMP_DEST_UNREACHABLE, ICMP_TIME_EXCEEDED } from "./icmp.ts";

/** ICMP source quench (RFC 792), deprecated by RFC 6633: hosts and routers ignore it. */
export const ICMP_SOURCE_QUENCH = 4;

/** The flow an ICMP error quotes (one reused object; fields valid after a null parse). */
export interface IcmpQuote {
  /** ICMP type and code. */
  type: number;
  code: number;
  /** The 32-bit rest of the ICMP header (next-hop MTU in the low 16 bits of frag-needed). */
  rest: number;
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
    rest: 0,
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
 * any other ICMP message; else a drop reason (`drop.` + reason in the stack's counters).
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
  if (icmpLen < 8) return "icmp_truncated";
  const type = buf[icmpOff];
  if (
    type !== ICMP_DEST_UNREACHABLE && type !== ICMP_TIME_EXCEEDED && type !== ICMP_SOURCE_QUENCH
  ) {
    return QUOTE_NOT_RELAYED;
  }
  const innerOff = icmpOff + 8;
  const quoted = icmpLen - 8;
  if (quoted < 20 || buf[innerOff] >>> 4 !== 4) return "icmp_bad_quote";
  const ihl = (buf[innerOff] & 0x0f) << 2;
  const protocol = buf[innerOff + 9];
  if (protocol !== IP_PROTO_TCP && protocol !== IP_PROTO_UDP) return QUOTE_NOT_RELAYED;
  if (ihl < 20 || quoted < ihl + 4) return "icmp_bad_quote";
  if (internetChecksum(buf, icmpOff, icmpLen) !== 0) return "icmp_bad_checksum";
  q.type = type;
  q.code = buf[icmpOff + 1];
  q.rest = readU32(buf, icmpOff + 4);
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
