/**
 * Software TCP segmentation of a super-frame (what the kernel's `tcp_gso_segment` and
 * `inet_gso_segment` do for a device without TSO): a TCP/IPv4 datagram carrying more than one
 * segment's worth of payload (a GSO frame from a TAP with offloads, stack/link/offload.ts) is cut
 * into segments of `mss` payload bytes, each a complete datagram of its own:
 *
 * - the IPv4 and TCP headers (options included) are copied; the IPv4 total length is the
 *   segment's, the identification the original's plus the segment's index (inet_gso_segment
 *   without FIXEDID), the header checksum is recomputed (RFC 791 3.1);
 * - the sequence number advances by the payload before the segment (RFC 9293 3.4);
 * - FIN and PSH stay on the last segment only, CWR on the first only (RFC 3168 6.1.2: CWR marks
 *   the first segment after the window was reduced), as tcp_gso_segment does;
 * - the TCP checksum is computed in full (RFC 9293 3.1: pseudo-header with the segment's length),
 *   whatever the super-frame's field held (typically a partial sum).
 *
 * TCP over IPv6 ({@link writeTcp6Segment}, `ipv6_gso_segment`) the same way: the payload length is
 * the segment's, there is no header checksum (RFC 8200 3), the TCP checksum's pseudo-header is
 * IPv6's (RFC 8200 8.1); the extension headers, if any, are copied with the fixed header.
 *
 * Nothing is allocated: the caller gives the destination buffer (the tunnel's transmit buffer).
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "../../stack/wire/bytes.ts";
import { internetChecksum, pseudoHeaderSum, pseudoHeaderSum6 } from "../../stack/wire/checksum.ts";
import { TCP_CWR, TCP_FIN, TCP_PSH } from "../../stack/wire/tcp.ts";
import { copyPacket } from "./copy.ts";

/** IPv4 header fields used here. */
const IP_TOTAL_LENGTH = 2;
const IP_ID = 4;
const IP_CHECKSUM = 10;
const IP_SRC = 12;
const IP_DST = 16;
/** TCP header fields used here. */
const TCP_SEQ = 4;
const TCP_FLAGS = 13;
const TCP_CHECKSUM = 16;

/**
 * Writes segment number `index` of the TCP/IPv4 datagram `src[ipOff .. ipOff+ipLen)`: the
 * payload bytes `[payloadFrom, payloadFrom + payloadLen)` behind copies of its headers, into
 * `dst[dstOff ..)`. `last` marks the final segment (FIN and PSH kept). Returns the segment's
 * IPv4 length. The caller has checked the headers (IHL, TCP data offset) fit `ipLen`.
 */
export function writeTcpSegment(
  src: Uint8Array,
  ipOff: number,
  payloadFrom: number,
  payloadLen: number,
  index: number,
  last: boolean,
  dst: Uint8Array,
  dstOff: number,
): number {
  const hl = (src[ipOff] & 0x0f) << 2;
  const thl = (src[ipOff + hl + 12] >>> 4) << 2;
  const headers = hl + thl;
  const len = headers + payloadLen;
  copyPacket(src, ipOff, dst, dstOff, headers);
  copyPacket(src, ipOff + headers + payloadFrom, dst, dstOff + headers, payloadLen);
  // IPv4: length, identification, checksum.
  writeU16(dst, dstOff + IP_TOTAL_LENGTH, len);
  writeU16(dst, dstOff + IP_ID, (readU16(src, ipOff + IP_ID) + index) & 0xffff);
  writeU16(dst, dstOff + IP_CHECKSUM, 0);
  writeU16(dst, dstOff + IP_CHECKSUM, internetChecksum(dst, dstOff, hl));
  // TCP: sequence number, flags, checksum.
  const tcp = dstOff + hl;
  writeU32(dst, tcp + TCP_SEQ, (readU32(src, ipOff + hl + TCP_SEQ) + payloadFrom) >>> 0);
  let flags = src[ipOff + hl + TCP_FLAGS];
  if (!last) flags &= ~(TCP_FIN | TCP_PSH);
  if (index > 0) flags &= ~TCP_CWR;
  dst[tcp + TCP_FLAGS] = flags;
  writeU16(dst, tcp + TCP_CHECKSUM, 0);
  const pseudo = pseudoHeaderSum(
    readU32(dst, dstOff + IP_SRC),
    readU32(dst, dstOff + IP_DST),
    dst[dstOff + 9],
    thl + payloadLen,
  );
  writeU16(dst, tcp + TCP_CHECKSUM, internetChecksum(dst, tcp, thl + payloadLen, pseudo));
  return len;
}

/**
 * Writes segment number `index` of the TCP/IPv6 packet `src[ipOff .. ipOff+len)`, its TCP header
 * at `l4Off`: the payload bytes `[payloadFrom, payloadFrom + payloadLen)` behind copies of its
 * headers, into `dst[dstOff ..)`. `last` marks the final segment. Returns the segment's length
 * (IPv6 header included). The caller has checked the TCP data offset fits the packet.
 */
export function writeTcp6Segment(
  src: Uint8Array,
  ipOff: number,
  l4Off: number,
  payloadFrom: number,
  payloadLen: number,
  index: number,
  last: boolean,
  dst: Uint8Array,
  dstOff: number,
): number {
  const hl = l4Off - ipOff;
  const thl = (src[l4Off + 12] >>> 4) << 2;
  const headers = hl + thl;
  const len = headers + payloadLen;
  copyPacket(src, ipOff, dst, dstOff, headers);
  copyPacket(src, ipOff + headers + payloadFrom, dst, dstOff + headers, payloadLen);
  writeU16(dst, dstOff + 4, len - 40); // the payload length: all after the fixed header
  const tcp = dstOff + hl;
  writeU32(dst, tcp + TCP_SEQ, (readU32(src, l4Off + TCP_SEQ) + payloadFrom) >>> 0);
  let flags = src[l4Off + TCP_FLAGS];
  if (!last) flags &= ~(TCP_FIN | TCP_PSH);
  if (index > 0) flags &= ~TCP_CWR;
  dst[tcp + TCP_FLAGS] = flags;
  writeU16(dst, tcp + TCP_CHECKSUM, 0);
  const pseudo = pseudoHeaderSum6(dst, dstOff + 8, dstOff + 24, 6, thl + payloadLen);
  writeU16(dst, tcp + TCP_CHECKSUM, internetChecksum(dst, tcp, thl + payloadLen, pseudo));
  return len;
}
