/**
 * IP in IP encapsulation (RFC 2003), the tunnel forwarding mode: an outer IPv4 header with
 * protocol 4 in front of the unchanged inner datagram.
 *
 * @module
 */

import {
  IP_PROTO_IPIP,
  IPV4_MIN_HEADER_LEN,
  type Ipv4Header,
  type Ipv4View,
  newIpv4Header,
  writeIpv4Header,
} from "./ipv4.ts";

/** Bytes the outer header adds: a 20-byte IPv4 header without options. */
export const IPIP_OVERHEAD = IPV4_MIN_HEADER_LEN;

/** One header description reused by every call (the builder reads it at once, keeps nothing). */
const outer: Ipv4Header = newIpv4Header();

/**
 * Writes the outer header at `buf[off]` for an inner datagram of `innerLen` bytes that follows it
 * (at `off + 20`); returns 20. RFC 2003 3.1: the TTL is one that reaches the tunnel exit; DF MUST
 * be set when the inner header has it (pass the inner DF), and TOS is copied from the inner header.
 */
export function writeIpipHeader(
  buf: Uint8Array,
  off: number,
  outerSrc: number,
  outerDst: number,
  innerLen: number,
  ttl: number,
  id: number,
  dontFragment: boolean,
  tos = 0,
): number {
  outer.src = outerSrc;
  outer.dst = outerDst;
  outer.protocol = IP_PROTO_IPIP;
  outer.ttl = ttl;
  outer.id = id;
  outer.tos = tos;
  outer.dontFragment = dontFragment;
  outer.moreFragments = false;
  outer.fragmentOffset = 0;
  outer.payloadLen = innerLen;
  return writeIpv4Header(buf, off, outer);
}

/**
 * Writes the outer header for the datagram `inner` (which must have passed `check()`), taking
 * DF and TOS from it as RFC 2003 3.1 asks; returns 20. The inner datagram is expected at `off + 20`
 * (the caller moves it there or writes the header into headroom before it).
 */
export function writeIpipHeaderFor(
  buf: Uint8Array,
  off: number,
  outerSrc: number,
  outerDst: number,
  inner: Ipv4View,
  ttl: number,
  id: number,
): number {
  return writeIpipHeader(
    buf,
    off,
    outerSrc,
    outerDst,
    inner.totalLength,
    ttl,
    id,
    inner.dontFragment,
    inner.tos,
  );
}

/**
 * Absolute index of the inner datagram of a checked outer packet: its payload when the protocol
 * is IP_PROTO_IPIP, else -1. The inner datagram needs its own `wrap` and `check()`.
 */
export function innerPacketOffset(outerView: Ipv4View): number {
  return outerView.protocol === IP_PROTO_IPIP ? outerView.payloadOffset : -1;
}
