/**
 * TCP segmentation offload on the send side: on a device with offload metadata (a TAP with
 * `IFF_VNET_HDR`, stack/link/offload.ts) a data segment may be a super-frame of up to 64 KB that
 * the kernel cuts into `gsoSize`-byte segments, copying the headers (options included) into each
 * and fixing the sequence numbers, IPv4 lengths and ids, and the FIN/PSH bits (last segment only;
 * Linux's tcp_gso_segment). Its checksum is partial: the field holds the folded pseudo-header sum
 * (not complemented) over the whole super-frame's TCP length, and the kernel completes each
 * segment's (Linux's __tcp_v4_send_check writes the same value).
 *
 * How big: Linux sizes TSO frames by pacing (tcp_tso_autosize: about 1 ms of data, at least 2
 * segments) so that a window is never one burst. Without pacing the rule here is simpler: at
 * most half of the usable window (min(cwnd, peer window)) per super-frame, so at least two are in
 * flight and an ACK of the first lets the next leave, in whole MSS multiples, within the 65535
 * bytes of an IPv4 datagram.
 *
 * @module
 */

import {
  type FrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_NONE,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
} from "../wire/virtio_net.ts";
import { pseudoHeaderSum, pseudoHeaderSum6 } from "../wire/checksum.ts";
import { IP_PROTO_TCP } from "../wire/ipv4.ts";
import { TCP_MIN_HEADER_LEN } from "../wire/tcp.ts";
import type { Tcb } from "./tcb.ts";

/** Largest IPv4 datagram (RFC 791 total length): the bound of one super-frame. */
export const TSO_MAX_DATAGRAM = 0xffff;

/** Bytes of the IPv4 header our segments carry (no options). */
const IP_HEADER_LEN = 20;

/** Largest TCP options (RFC 9293 3.1: data offset 15 words). */
const MAX_OPTIONS_LEN = 40;

/** Ethernet header length: where the IPv4 header starts in a frame. */
const ETH_LEN = 14;

/** Offset of the TCP checksum field in the TCP header (RFC 9293 3.1). */
export const TCP_CHECKSUM_OFFSET = 16;

/**
 * Payload bytes of the largest super-frame the send policy builds for `t` now: whole multiples
 * of the MSS, no more than half of min(cwnd, the peer's window) (at least one MSS), within a
 * 65535-byte datagram whatever options the segment carries. Equals `t.opts.mss` when the window is
 * too small to split.
 */
export function tsoSegmentCap(t: Tcb): number {
  const mss = t.opts.mss;
  const maxSegs = Math.floor(
    (TSO_MAX_DATAGRAM - IP_HEADER_LEN - TCP_MIN_HEADER_LEN - MAX_OPTIONS_LEN) / mss,
  );
  const wnd = t.snd.wnd < t.cong.cwnd ? t.snd.wnd : t.cong.cwnd;
  let segs = Math.floor(wnd / (2 * mss));
  if (segs > maxSegs) segs = maxSegs;
  if (segs < 1) segs = 1;
  return segs * mss;
}

/**
 * The largest payload of one super-frame with `optLen` option bytes, cut into `gsoSize`-byte
 * segments: the whole segments that fit a 65535-byte IPv4 datagram.
 */
export function tsoMaxPayload(gsoSize: number, optLen: number): number {
  const room = TSO_MAX_DATAGRAM - IP_HEADER_LEN - TCP_MIN_HEADER_LEN - optLen;
  return room - (room % gsoSize);
}

/**
 * Writes the partial checksum of a TCP segment at `buf[tcpOff ..)` of `tcpLen` bytes from `src`
 * to `dst`: the folded pseudo-header sum, not complemented (what NEEDS_CSUM expects: the sum from
 * the TCP header to the end, complemented, completes it; RFC 1071, virtio 5.1.6.2).
 */
export function writePartialChecksum(
  buf: Uint8Array,
  tcpOff: number,
  tcpLen: number,
  src: number,
  dst: number,
): void {
  writeFolded(buf, tcpOff, pseudoHeaderSum(src, dst, IP_PROTO_TCP, tcpLen));
}

/** {@link writePartialChecksum} over IPv6: the addresses at `addrs[srcOff]`, `[dstOff]`. */
export function writePartialChecksum6(
  buf: Uint8Array,
  tcpOff: number,
  tcpLen: number,
  addrs: Uint8Array,
  srcOff: number,
  dstOff: number,
): void {
  writeFolded(buf, tcpOff, pseudoHeaderSum6(addrs, srcOff, dstOff, IP_PROTO_TCP, tcpLen));
}

/** Folds the sum `s` to 16 bits into the checksum field of the TCP header at `tcpOff`. */
function writeFolded(buf: Uint8Array, tcpOff: number, s: number): void {
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  buf[tcpOff + TCP_CHECKSUM_OFFSET] = s >>> 8;
  buf[tcpOff + TCP_CHECKSUM_OFFSET + 1] = s & 0xff;
}

/**
 * Fills `o` (TCP's own metadata, passed with the frame to `sendIpv4`) for one frame: a TCP/IPv4
 * segment whose checksum is partial, with `tcpHdrLen` bytes of TCP header; a super-frame to cut
 * into `gsoSize`-byte segments when `gsoSize` > 0.
 */
export function setTxOffload(
  o: FrameOffload,
  tcpHdrLen: number,
  gsoSize: number,
  ipHeaderLen = IP_HEADER_LEN,
): void {
  const v6 = ipHeaderLen !== IP_HEADER_LEN;
  o.flags = VNET_F_NEEDS_CSUM;
  o.gsoType = gsoSize > 0 ? (v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4) : VNET_GSO_NONE;
  o.hdrLen = ETH_LEN + ipHeaderLen + tcpHdrLen;
  o.gsoSize = gsoSize;
  o.csumStart = ETH_LEN + ipHeaderLen;
  o.csumOffset = TCP_CHECKSUM_OFFSET;
}
