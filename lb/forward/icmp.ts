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

import { readU16, writeU16 } from "../../stack/wire/bytes.ts";
import { internetChecksum } from "../../stack/wire/checksum.ts";
import type { IcmpQuote } from "../../stack/wire/icmp_quote.ts";
import { adjustL4Checksum, decrementTtl, l4ChecksumOffset, setIpv4Address } from "./rewrite.ts";

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
  setIpv4Address(buf, ipOff, 16, realIp);
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
  setIpv4Address(buf, ipOff, 12, vip);
  decrementTtl(buf, ipOff);
  translateQuote(buf, q, 16, 2, vip, vport);
  finishIcmp(buf, ipOff, ipLen, q);
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
  const oldAddr = setIpv4Address(buf, q.innerOff, addrAt, addr);
  const oldPort = readU16(buf, q.innerL4Off + portAt);
  writeU16(buf, q.innerL4Off + portAt, port);
  const cAt = l4ChecksumOffset(q.protocol);
  if (q.innerL4Len < cAt + 2) return; // the quote stops before the checksum
  adjustL4Checksum(buf, q.innerL4Off + cAt, q.protocol, oldAddr, addr, oldPort, port);
}

/** Recomputes the ICMP checksum over the message (RFC 792). */
function finishIcmp(buf: Uint8Array, ipOff: number, ipLen: number, q: IcmpQuote): void {
  const len = ipLen - (q.icmpOff - ipOff);
  writeU16(buf, q.icmpOff + 2, 0);
  writeU16(buf, q.icmpOff + 2, internetChecksum(buf, q.icmpOff, len));
}
