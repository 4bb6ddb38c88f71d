/**
 * In-place header rewrites for NAT: a new address and port on one side of the packet, with the
 * IPv4 header checksum and the TCP/UDP checksum updated incrementally (RFC 1624 eqn. 3), never
 * recomputed over the payload. The balancer never reads payload bytes; an incremental update
 * keeps a wrong checksum wrong, so the real server or the client still rejects a corrupt segment.
 *
 * The TCP/UDP checksum covers the pseudo-header (RFC 9293 3.1, RFC 768), which holds both
 * addresses, so an address change updates it too. A UDP checksum of 0 means "none" (RFC 768):
 * it stays 0; an updated UDP checksum that comes out as 0 is sent as 0xffff (RFC 768).
 *
 * A partial checksum (a frame from a TAP with offloads, virtio NEEDS_CSUM; see
 * stack/link/offload.ts) is different: the field holds P, the folded pseudo-header sum, NOT
 * complemented, and whoever sends the frame last (the kernel, or a NIC) sums the TCP/UDP header
 * and payload from there, field included, and stores the complement. So:
 * - only the pseudo-header's part changes P: the address. The port is in the range still to be
 *   summed, so it must not be folded in (it would be counted twice);
 * - RFC 1624 eqn. 3 works on the complemented field, HC' = ~(~HC + ~m + m'); with HC = ~P this
 *   gives P' = P + ~m + m' (one's complement sums), i.e. P' = ~adjust(~P). No UDP zero rule
 *   either: 0 in the field is a sum, not "no checksum".
 *
 * Callers have checked that the TCP (20 bytes) or UDP (8 bytes) header is inside the packet.
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "../../stack/wire/bytes.ts";
import { checksumAdjust16, checksumAdjust32 } from "../../stack/wire/checksum.ts";
import { IP_PROTO_UDP } from "../../stack/wire/ipv4.ts";

/** Offset of the IPv4 header checksum. */
const IP_CHECKSUM = 10;
/** Offset of the source address; the destination follows at 16. */
const IP_SRC = 12;
const IP_DST = 16;
/** Offset of the TCP checksum in the TCP header; UDP's is at 6. */
const TCP_CHECKSUM = 16;
const UDP_CHECKSUM = 6;

/**
 * Writes a new address into the IPv4 header at `addrOff` (12 source, 16 destination) and a new
 * port into the transport header at `portOff` (0 source, 2 destination), adjusting both
 * checksums. `protocol` is 6 (TCP) or 17 (UDP); `partial`: the L4 checksum field holds a
 * partial (pseudo-header) sum (see the module comment).
 */
function rewrite(
  buf: Uint8Array,
  ipOff: number,
  l4Off: number,
  protocol: number,
  addrOff: number,
  portOff: number,
  addr: number,
  port: number,
  partial: boolean,
): void {
  const oldAddr = setIpv4Address(buf, ipOff, addrOff, addr);
  const oldPort = readU16(buf, l4Off + portOff);
  writeU16(buf, l4Off + portOff, port);
  const cOff = l4Off + l4ChecksumOffset(protocol);
  if (partial) {
    writeU16(buf, cOff, partialAdjust32(readU16(buf, cOff), oldAddr, addr));
    return;
  }
  adjustL4Checksum(buf, cOff, protocol, oldAddr, addr, oldPort, port);
}

/**
 * Writes `addr` into the IPv4 header at `ipOff` (`addrOff` 12: source, 16: destination) and
 * adjusts the header checksum (RFC 1624). Returns the address it replaced.
 */
export function setIpv4Address(
  buf: Uint8Array,
  ipOff: number,
  addrOff: number,
  addr: number,
): number {
  const old = readU32(buf, ipOff + addrOff);
  writeU16(
    buf,
    ipOff + IP_CHECKSUM,
    checksumAdjust32(readU16(buf, ipOff + IP_CHECKSUM), old, addr),
  );
  writeU32(buf, ipOff + addrOff, addr);
  return old;
}

/** Where the checksum sits in a TCP (16) or UDP (6) header. */
export function l4ChecksumOffset(protocol: number): number {
  return protocol === IP_PROTO_UDP ? UDP_CHECKSUM : TCP_CHECKSUM;
}

/**
 * Adjusts the complete TCP/UDP checksum at `cOff` for an address (pseudo-header) and a port that
 * changed (RFC 1624). RFC 768: a zero UDP checksum was never computed and stays 0; an updated
 * one that comes out 0 is sent as 0xffff.
 */
export function adjustL4Checksum(
  buf: Uint8Array,
  cOff: number,
  protocol: number,
  oldAddr: number,
  addr: number,
  oldPort: number,
  port: number,
): void {
  const old = readU16(buf, cOff);
  if (protocol === IP_PROTO_UDP && old === 0) return;
  let c = checksumAdjust32(old, oldAddr, addr);
  c = checksumAdjust16(c, oldPort, port);
  if (protocol === IP_PROTO_UDP && c === 0) c = 0xffff;
  writeU16(buf, cOff, c);
}

/**
 * A partial (pseudo-header) checksum `p` after a 32-bit pseudo-header field (an address)
 * changed from `oldValue` to `newValue`: P' = P + ~old + new in one's complement, computed as
 * ~adjust(~P) with RFC 1624 eqn. 3 (see the module comment).
 */
export function partialAdjust32(p: number, oldValue: number, newValue: number): number {
  return ~checksumAdjust32(~p & 0xffff, oldValue, newValue) & 0xffff;
}

/**
 * NAT toward the real server (IPVS `tcp_dnat_handler`/`udp_dnat_handler`): destination address
 * and port become the real server's. `partial`: the L4 checksum is a partial sum (NEEDS_CSUM).
 */
export function rewriteDestination(
  buf: Uint8Array,
  ipOff: number,
  l4Off: number,
  protocol: number,
  addr: number,
  port: number,
  partial = false,
): void {
  rewrite(buf, ipOff, l4Off, protocol, IP_DST, 2, addr, port, partial);
}

/**
 * NAT toward the client (IPVS `tcp_snat_handler`/`udp_snat_handler`): source address and port
 * of the real server's reply become the VIP's. `partial`: the L4 checksum is a partial sum.
 */
export function rewriteSource(
  buf: Uint8Array,
  ipOff: number,
  l4Off: number,
  protocol: number,
  addr: number,
  port: number,
  partial = false,
): void {
  rewrite(buf, ipOff, l4Off, protocol, IP_SRC, 0, addr, port, partial);
}

/**
 * Decrements the TTL of a routed packet and adjusts the header checksum (RFC 1812 5.3.1,
 * RFC 1624). IPv4 input has already dropped packets to be forwarded with TTL <= 1.
 */
export function decrementTtl(buf: Uint8Array, ipOff: number): void {
  const oldWord = readU16(buf, ipOff + 8);
  buf[ipOff + 8] = buf[ipOff + 8] - 1;
  writeU16(
    buf,
    ipOff + IP_CHECKSUM,
    checksumAdjust16(readU16(buf, ipOff + IP_CHECKSUM), oldWord, readU16(buf, ipOff + 8)),
  );
}
