/**
 * ICMPv6 (RFC 4443) and the Neighbor Discovery messages a host exchanges (RFC 4861 4.3, 4.4):
 * type, code, checksum over the IPv6 pseudo-header (RFC 4443 2.3, RFC 8200 8.1), and the
 * Neighbor Solicitation / Advertisement bodies with their link-layer address options (4.6.1).
 *
 * @module
 */

import { readU32, writeU16, writeU32 } from "./bytes.ts";
import { internetChecksum, pseudoHeaderSum6 } from "./checksum.ts";
import { IPV6_NH_ICMPV6 } from "./ipv6.ts";

/** Destination Unreachable (RFC 4443 3.1). */
export const ICMPV6_DEST_UNREACHABLE = 1;
/** Packet Too Big (RFC 4443 3.2): the MTU in the 32-bit field. */
export const ICMPV6_PACKET_TOO_BIG = 2;
/** Time Exceeded (RFC 4443 3.3). */
export const ICMPV6_TIME_EXCEEDED = 3;
/** Parameter Problem (RFC 4443 3.4): the pointer in the 32-bit field. */
export const ICMPV6_PARAMETER_PROBLEM = 4;
/** Destination Unreachable code 4: port unreachable (RFC 4443 3.1). */
export const ICMPV6_CODE_PORT_UNREACHABLE = 4;
/** Echo Request (RFC 4443 4.1). */
export const ICMPV6_ECHO_REQUEST = 128;
/** Echo Reply (RFC 4443 4.2). */
export const ICMPV6_ECHO_REPLY = 129;
/** Router Solicitation (RFC 4861 4.1). */
export const ND_ROUTER_SOLICIT = 133;
/** Router Advertisement (RFC 4861 4.2). */
export const ND_ROUTER_ADVERT = 134;
/** Neighbor Solicitation (RFC 4861 4.3). */
export const ND_NEIGHBOR_SOLICIT = 135;
/** Neighbor Advertisement (RFC 4861 4.4). */
export const ND_NEIGHBOR_ADVERT = 136;
/** Redirect (RFC 4861 4.5). */
export const ND_REDIRECT = 137;

/** NA flag: the sender is a router. */
export const NA_ROUTER = 0x80000000;
/** NA flag: sent in response to a solicitation. */
export const NA_SOLICITED = 0x40000000;
/** NA flag: override an existing cache entry. */
export const NA_OVERRIDE = 0x20000000;

/** ND option: Source Link-Layer Address (RFC 4861 4.6.1). */
export const ND_OPT_SOURCE_LL = 1;
/** ND option: Target Link-Layer Address. */
export const ND_OPT_TARGET_LL = 2;

/** Length of an ICMPv6 header (type, code, checksum, 32-bit field). */
export const ICMPV6_HEADER_LEN = 8;
/** Length of an NS or NA body before its options (header + 16-byte target). */
export const ND_NS_NA_LEN = 24;

/**
 * The ICMPv6 checksum of the message `buf[off .. off+len)` sent between the addresses at
 * `srcOff`/`dstOff` (with the checksum field as it is: 0 when the result is right).
 */
export function icmpv6Checksum(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  off: number,
  len: number,
): number {
  return internetChecksum(
    buf,
    off,
    len,
    pseudoHeaderSum6(buf, srcOff, dstOff, IPV6_NH_ICMPV6, len),
  );
}

/** Fills the checksum field of the ICMPv6 message at `off` (length `len`). */
export function fillIcmpv6Checksum(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  off: number,
  len: number,
): void {
  writeU16(buf, off + 2, 0);
  writeU16(buf, off + 2, icmpv6Checksum(buf, srcOff, dstOff, off, len));
}

/** What {@link parseNeighborMessage} found (reused: no allocation). */
export class NeighborMessage {
  /** ND_NEIGHBOR_SOLICIT or ND_NEIGHBOR_ADVERT. */
  type = 0;
  /** Offset of the 16-byte target address. */
  targetOff = 0;
  /** NA flags (NA_ROUTER, NA_SOLICITED, NA_OVERRIDE); 0 for an NS. */
  flags = 0;
  /** Offset of the link-layer address option's 6-byte address, or -1 when none. */
  llOff = -1;
}

/**
 * Parses a Neighbor Solicitation or Advertisement at `buf[off .. off+len)` (checksum already
 * checked). Returns null, or the reason it is invalid (RFC 4861 7.1.1, 7.1.2): "nd_truncated",
 * "nd_bad_code", "nd_bad_option" (an option of length 0, or running past the message). The hop
 * limit of 255 and the other IPv6-level rules are the caller's.
 */
export function parseNeighborMessage(
  buf: Uint8Array,
  off: number,
  len: number,
  out: NeighborMessage,
): string | null {
  if (len < ND_NS_NA_LEN) return "nd_truncated";
  if (buf[off + 1] !== 0) return "nd_bad_code";
  out.type = buf[off];
  out.targetOff = off + 8;
  out.flags = out.type === ND_NEIGHBOR_ADVERT ? readU32(buf, off + 4) & 0xe0000000 : 0;
  out.llOff = -1;
  const want = out.type === ND_NEIGHBOR_SOLICIT ? ND_OPT_SOURCE_LL : ND_OPT_TARGET_LL;
  let i = off + ND_NS_NA_LEN;
  const end = off + len;
  while (i < end) {
    if (i + 2 > end) return "nd_bad_option";
    const olen = buf[i + 1] * 8;
    if (olen === 0 || i + olen > end) return "nd_bad_option";
    // An Ethernet address option is 8 bytes: type, length 1, six address bytes.
    if (buf[i] === want && olen >= 8) out.llOff = i + 2;
    i += olen;
  }
  return null;
}

/**
 * Writes a Neighbor Solicitation (`na` false) or Advertisement at `buf[off..)` for the target at
 * `target`, with the link-layer address option carrying `mac` (when not null); returns its
 * length. The checksum is left for {@link fillIcmpv6Checksum} once the IPv6 header is written.
 */
export function writeNeighborMessage(
  buf: Uint8Array,
  off: number,
  na: boolean,
  flags: number,
  target: Uint8Array,
  mac: Uint8Array | null,
): number {
  buf[off] = na ? ND_NEIGHBOR_ADVERT : ND_NEIGHBOR_SOLICIT;
  buf[off + 1] = 0;
  writeU16(buf, off + 2, 0);
  writeU32(buf, off + 4, na ? flags >>> 0 : 0);
  buf.set(target.subarray(0, 16), off + 8);
  if (mac === null) return ND_NS_NA_LEN;
  buf[off + 24] = na ? ND_OPT_TARGET_LL : ND_OPT_SOURCE_LL;
  buf[off + 25] = 1;
  buf.set(mac.subarray(0, 6), off + 26);
  return ND_NS_NA_LEN + 8;
}

/** The 32-bit field after type/code/checksum: Packet Too Big's MTU, Parameter Problem's pointer. */
export function icmpv6Field(buf: Uint8Array, off: number): number {
  return readU32(buf, off + 4);
}
