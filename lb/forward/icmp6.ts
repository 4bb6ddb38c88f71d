/**
 * ICMPv6 errors about balanced IPv6 flows: the IPv6 twin of icmp.ts (IPVS `ip_vs_in_icmp_v6`,
 * `ip_vs_out_icmp_v6`), by the same rules. An error quoting VIP:vport -> client came from a
 * router about a real server's packet and goes to that real server (DR as is, TUN encapsulated,
 * NAT translated); a NAT real server's error quoting client -> real:rport goes to the client,
 * translated. Packet Too Big (RFC 4443 3.2) is the one that matters: without it path MTU
 * discovery (RFC 8201) fails across the balancer.
 *
 * {@link parseIcmp6Quote} reads the quote: the invoking packet's IPv6 header and at least the
 * ports of its TCP/UDP header, with no extension headers between (what real servers and clients
 * send on a balanced flow). Translation writes the outer address and the quoted address and port,
 * adjusts the quoted TCP/UDP checksum when the quote holds it (RFC 1624, nat6.ts), and
 * recomputes the ICMPv6 checksum, pseudo-header included (RFC 4443 2.3), after verifying the one
 * that came.
 *
 * @module
 */

import { readU16, writeU16 } from "../../stack/wire/bytes.ts";
import { internetChecksum, pseudoHeaderSum6 } from "../../stack/wire/checksum.ts";
import { IPV6_HEADER_LEN, IPV6_NH_ICMPV6 } from "../../stack/wire/ipv6.ts";
import { IP_PROTO_TCP, IP_PROTO_UDP } from "../../stack/wire/ipv4.ts";
import { l4ChecksumOffset } from "./rewrite.ts";
import { rewrite6 } from "./nat6.ts";

/** ICMPv6 Destination Unreachable, Packet Too Big, Time Exceeded: the errors relayed. */
const RELAYED_MAX_TYPE = 3;
/** ICMPv6 header bytes before the quote. */
const ICMP6_HEADER = 8;

/** A parsed quote (offsets into the packet), reused: see {@link parseIcmp6Quote}. */
export interface Icmp6Quote {
  /** ICMPv6 type. */
  type: number;
  /** Quoted transport protocol: 6 or 17. */
  protocol: number;
  /** Offset of the quoted IPv6 header. */
  ipOff: number;
  /** Offset of the quoted TCP/UDP header. */
  l4Off: number;
  /** Quoted source and destination ports. */
  sport: number;
  dport: number;
}

/** A fresh quote object, for reuse. */
export function newIcmp6Quote(): Icmp6Quote {
  return { type: 0, protocol: 0, ipOff: 0, l4Off: 0, sport: 0, dport: 0 };
}

/** The quote is not one the balancer relays (informational, Parameter Problem): pass it on. */
export const QUOTE6_NOT_RELAYED = "not_relayed";

/**
 * Parses the ICMPv6 message at `icmpOff` (the packet ends at `end`) into `q`: null when it is a
 * relayed error quoting TCP or UDP with its ports, QUOTE6_NOT_RELAYED for other messages, or a
 * drop reason ("icmp_truncated", "icmp_bad_quote").
 */
export function parseIcmp6Quote(
  buf: Uint8Array,
  icmpOff: number,
  end: number,
  q: Icmp6Quote,
): string | null {
  if (end - icmpOff < ICMP6_HEADER) return "icmp_truncated";
  const type = buf[icmpOff];
  if (type === 0 || type > RELAYED_MAX_TYPE) return QUOTE6_NOT_RELAYED;
  const qIp = icmpOff + ICMP6_HEADER;
  if (end - qIp < IPV6_HEADER_LEN + 4) return "icmp_truncated";
  const proto = buf[qIp + 6];
  if ((buf[qIp] >> 4) !== 6 || (proto !== IP_PROTO_TCP && proto !== IP_PROTO_UDP)) {
    return "icmp_bad_quote";
  }
  q.type = type;
  q.protocol = proto;
  q.ipOff = qIp;
  q.l4Off = qIp + IPV6_HEADER_LEN;
  q.sport = readU16(buf, q.l4Off);
  q.dport = readU16(buf, q.l4Off + 2);
  return null;
}

/** True when the ICMPv6 checksum of the packet at `ipOff` (message at `icmpOff`) verifies. */
export function icmp6ChecksumOk(
  buf: Uint8Array,
  ipOff: number,
  icmpOff: number,
  end: number,
): boolean {
  const len = end - icmpOff;
  const acc = pseudoHeaderSum6(buf, ipOff + 8, ipOff + 24, IPV6_NH_ICMPV6, len);
  return internetChecksum(buf, icmpOff, len, acc) === 0;
}

/**
 * Translates an error in place: the outer address at `outerOff` (8 source, 24 destination) and
 * the quoted address at `quoteAddrOff` (8, 24) with the quoted port at `quotePortOff` (0, 2)
 * become `addr` (16 bytes):`port`; checksums as in the module comment (the caller verified the
 * ICMPv6 checksum).
 */
export function translateIcmp6(
  buf: Uint8Array,
  ipOff: number,
  icmpOff: number,
  end: number,
  q: Icmp6Quote,
  outerOff: number,
  quoteAddrOff: number,
  quotePortOff: number,
  addr: Uint8Array,
  port: number,
): void {
  buf.set(addr, ipOff + outerOff);
  if (q.l4Off + l4ChecksumOffset(q.protocol) + 2 <= end) {
    rewrite6(buf, q.ipOff, q.l4Off, q.protocol, quoteAddrOff, quotePortOff, addr, 0, port, false);
  } else {
    // The quote stops before the transport checksum: nothing of it to keep right.
    buf.set(addr, q.ipOff + quoteAddrOff);
    writeU16(buf, q.l4Off + quotePortOff, port);
  }
  writeU16(buf, icmpOff + 2, 0);
  const len = end - icmpOff;
  const acc = pseudoHeaderSum6(buf, ipOff + 8, ipOff + 24, IPV6_NH_ICMPV6, len);
  writeU16(buf, icmpOff + 2, internetChecksum(buf, icmpOff, len, acc));
}
