/**
 * IPv6 headers (RFC 8200): the fixed 40-byte header as a view and a builder, and the walk over
 * the extension-header chain to the upper-layer header.
 *
 * Layout: version (4 bits), traffic class (8), flow label (20); payload length (2); next header
 * (1); hop limit (1); source (16); destination (16). No header checksum: the upper layers cover
 * the addresses with their pseudo-header (RFC 8200 8.1).
 *
 * Extension headers (RFC 8200 4): hop-by-hop options (only right after the IPv6 header, 4.3),
 * routing (4.4), fragment (4.5), destination options (4.6), each "next header, length" first. The
 * walk skips what it can and reports the rest as data (a reason), never throwing: a chain longer
 * than the limits of RFC 8504 5.3 (here: at most {@link MAX_EXTENSION_HEADERS} headers, and the
 * whole chain within the first {@link MAX_CHAIN_BYTES} bytes) is refused, as is an option whose
 * type says "discard" when not understood (4.2).
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { WireView } from "./view.ts";

/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LEN = 40;
/** Next header: hop-by-hop options. */
export const IPV6_HOP_BY_HOP = 0;
/** Next header: TCP. */
export const IPV6_NH_TCP = 6;
/** Next header: UDP. */
export const IPV6_NH_UDP = 17;
/** Next header: IPv6 in IPv6 (RFC 2473). */
export const IPV6_NH_IPV6 = 41;
/** Next header: routing. */
export const IPV6_ROUTING = 43;
/** Next header: fragment. */
export const IPV6_FRAGMENT = 44;
/** Next header: ICMPv6 (RFC 4443). */
export const IPV6_NH_ICMPV6 = 58;
/** Next header: no next header (RFC 8200 4.7). */
export const IPV6_NO_NEXT_HEADER = 59;
/** Next header: destination options. */
export const IPV6_DEST_OPTS = 60;
/** The IPv6 minimum link MTU (RFC 8200 5). */
export const IPV6_MIN_MTU = 1280;
/** Extension headers walked at most (RFC 8504 5.3: a host SHOULD limit them). */
export const MAX_EXTENSION_HEADERS = 8;
/** The whole header chain must fit in this many bytes from the IPv6 header (RFC 8504 5.3). */
export const MAX_CHAIN_BYTES = 1280;

/** A view over one IPv6 packet `buf[off .. off+len)`. */
export class Ipv6View extends WireView {
  /**
   * Null when the fixed header is well formed and the payload fits, so every accessor is safe and
   * the packet is `buf[off .. off+40+payloadLength)`; else "ipv6_truncated", "ipv6_bad_version"
   * or "ipv6_bad_payload_length". A payload length of 0 (a jumbogram, RFC 2675) is refused as
   * bad: this stack's links carry no jumbograms.
   */
  check(): string | null {
    if (this.len < IPV6_HEADER_LEN) return "ipv6_truncated";
    if (this.buf[this.off] >> 4 !== 6) return "ipv6_bad_version";
    const pl = this.payloadLength;
    if (IPV6_HEADER_LEN + pl > this.len) return "ipv6_bad_payload_length";
    if (pl === 0 && this.nextHeader === IPV6_HOP_BY_HOP) return "ipv6_bad_payload_length";
    return null;
  }

  /** Traffic class (DSCP and ECN). */
  get trafficClass(): number {
    return (readU16(this.buf, this.off) >> 4) & 0xff;
  }

  /** Flow label (20 bits). */
  get flowLabel(): number {
    return readU32(this.buf, this.off) & 0xfffff;
  }

  /** Bytes after the fixed header (extension headers and upper layer). */
  get payloadLength(): number {
    return readU16(this.buf, this.off + 4);
  }

  /** The first next-header value. */
  get nextHeader(): number {
    return this.buf[this.off + 6];
  }

  /** Hop limit. */
  get hopLimit(): number {
    return this.buf[this.off + 7];
  }

  /** Offset of the 16-byte source address in `buf`. */
  get srcOff(): number {
    return this.off + 8;
  }

  /** Offset of the 16-byte destination address in `buf`. */
  get dstOff(): number {
    return this.off + 24;
  }
}

/** The fields of an IPv6 header to write. */
export interface Ipv6Header {
  trafficClass: number;
  flowLabel: number;
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  /** 16 bytes. */
  src: Uint8Array;
  /** 16 bytes. */
  dst: Uint8Array;
}

/** Writes the fixed header `h` at `buf[off .. off+40)`. */
export function writeIpv6Header(buf: Uint8Array, off: number, h: Ipv6Header): void {
  writeU32(buf, off, ((6 << 28) | ((h.trafficClass & 0xff) << 20) | (h.flowLabel & 0xfffff)) >>> 0);
  writeU16(buf, off + 4, h.payloadLength);
  buf[off + 6] = h.nextHeader;
  buf[off + 7] = h.hopLimit;
  // Byte loops, not set(subarray): no view allocated per packet.
  const src = h.src;
  const dst = h.dst;
  for (let i = 0; i < 16; i++) {
    buf[off + 8 + i] = src[i];
    buf[off + 24 + i] = dst[i];
  }
}

/** Length of the fragment header (RFC 8200 4.5). */
export const IPV6_FRAGMENT_HEADER_LEN = 8;

/**
 * Writes a fragment header (RFC 8200 4.5) at `buf[off .. off+8)`: the next header of the
 * fragmentable part, this fragment's offset in bytes (a multiple of 8), the M flag and the
 * identification.
 */
export function writeFragmentHeader(
  buf: Uint8Array,
  off: number,
  nextHeader: number,
  offset: number,
  more: boolean,
  id: number,
): void {
  buf[off] = nextHeader;
  buf[off + 1] = 0;
  writeU16(buf, off + 2, (offset & 0xfff8) | (more ? 1 : 0));
  writeU32(buf, off + 4, id >>> 0);
}

/** What {@link walkExtensionHeaders} found (reused between packets: no allocation). */
export class Ipv6Chain {
  /** The upper-layer protocol (or IPV6_NO_NEXT_HEADER). */
  protocol = 0;
  /** Offset of the upper-layer header in the buffer. */
  upperOff = 0;
  /**
   * Offset, from the start of the IPv6 header, of the next-header octet that names `protocol`
   * (the pointer of a Parameter Problem for an unrecognized next header, RFC 4443 3.4).
   */
  protocolPointer = 0;
  /** Extension headers walked. */
  count = 0;
  /** A fragment header was present. */
  fragment = false;
  /** Its fragment offset, bytes. */
  fragmentOffset = 0;
  /** Its M (more fragments) flag. */
  moreFragments = false;
  /** Its identification. */
  fragmentId = 0;
  /** Offset of the fragment header itself (the unfragmentable part ends there). */
  fragmentHeaderOff = 0;
  /** Offset of the next-header octet that names the fragment header (in the header before it). */
  fragmentNhOff = 0;
  /** The fragment header's own next header: the protocol of the fragmentable part. */
  fragmentNextHeader = 0;
  /**
   * For a refused option or header: the offset, from the start of the IPv6 header, of the octet
   * at fault (ICMPv6 Parameter Problem's pointer, RFC 4443 3.4), and whether the sender should be
   * told (an option type's "discard and send ICMP" bits, RFC 8200 4.2).
   */
  errorPointer = 0;
  tellSender = false;
  /** The option's action is "tell the sender only if the destination was not multicast". */
  tellOnlyUnicast = false;
}

/**
 * Walks the extension headers of the packet whose IPv6 header is at `ipOff` (already checked,
 * `end` = ipOff + 40 + payload length) to the upper layer. Returns null and fills `out`, or the
 * reason the packet is dropped: "ipv6_ext_truncated", "ipv6_ext_chain_too_long",
 * "ipv6_hop_by_hop_not_first", "ipv6_option_unknown" (an option whose type says discard),
 * "ipv6_routing_unsupported" (a routing header with segments left: RFC 8200 4.4, we route
 * nothing). An upper-layer protocol the caller does not know is its own business.
 */
export function walkExtensionHeaders(
  buf: Uint8Array,
  ipOff: number,
  end: number,
  out: Ipv6Chain,
): string | null {
  let nh = buf[ipOff + 6];
  let nhOff = ipOff + 6;
  let off = ipOff + IPV6_HEADER_LEN;
  out.count = 0;
  out.fragment = false;
  out.tellSender = false;
  out.tellOnlyUnicast = false;
  out.errorPointer = 0;
  for (;;) {
    if (
      nh !== IPV6_HOP_BY_HOP && nh !== IPV6_ROUTING && nh !== IPV6_FRAGMENT &&
      nh !== IPV6_DEST_OPTS
    ) {
      out.protocol = nh;
      out.upperOff = off;
      out.protocolPointer = nhOff - ipOff;
      return null;
    }
    if (nh === IPV6_HOP_BY_HOP && out.count > 0) {
      out.errorPointer = 6; // RFC 8200 4.3: only right after the IPv6 header
      out.tellSender = true;
      return "ipv6_hop_by_hop_not_first";
    }
    if (++out.count > MAX_EXTENSION_HEADERS) return "ipv6_ext_chain_too_long";
    if (off + 8 > end) return "ipv6_ext_truncated";
    const next = buf[off];
    let hlen: number;
    if (nh === IPV6_FRAGMENT) {
      hlen = 8; // RFC 8200 4.5: fixed size
      const fo = readU16(buf, off + 2);
      out.fragment = true;
      out.fragmentOffset = fo & 0xfff8;
      out.moreFragments = (fo & 1) === 1;
      out.fragmentId = readU32(buf, off + 4);
      out.fragmentHeaderOff = off;
      out.fragmentNhOff = nhOff;
      out.fragmentNextHeader = next;
      if (out.fragmentOffset !== 0) {
        // What follows a later fragment's header is data, not headers (RFC 8200 4.5).
        out.protocol = next;
        out.upperOff = off + 8;
        out.protocolPointer = off - ipOff;
        return null;
      }
    } else {
      hlen = (buf[off + 1] + 1) * 8;
      if (off + hlen > end) return "ipv6_ext_truncated";
      if (nh === IPV6_ROUTING && buf[off + 3] !== 0) {
        out.errorPointer = off + 2 - ipOff; // the routing type
        out.tellSender = true;
        return "ipv6_routing_unsupported";
      }
      if (nh === IPV6_HOP_BY_HOP || nh === IPV6_DEST_OPTS) {
        const bad = checkOptions(buf, off + 2, off + hlen, ipOff, out);
        if (bad !== null) return bad;
      }
    }
    nhOff = off;
    off += hlen;
    if (off - ipOff > MAX_CHAIN_BYTES) return "ipv6_ext_chain_too_long";
    nh = next;
  }
}

/**
 * RFC 8200 4.2: the options of a hop-by-hop or destination options header in `[from, to)`.
 * Pad1 and PadN are skipped, as is any option whose type's top two bits are 00 (skip over); the
 * other actions (01 discard, 10 discard and tell, 11 discard and tell unless multicast) refuse
 * the packet. Truncated options are refused too.
 */
function checkOptions(
  buf: Uint8Array,
  from: number,
  to: number,
  ipOff: number,
  out: Ipv6Chain,
): string | null {
  let i = from;
  while (i < to) {
    const type = buf[i];
    if (type === 0) {
      i++; // Pad1
      continue;
    }
    if (i + 2 > to || i + 2 + buf[i + 1] > to) return "ipv6_ext_truncated";
    if (type !== 1) {
      const action = type >> 6;
      if (action !== 0) {
        out.errorPointer = i - ipOff;
        out.tellSender = action >= 2;
        out.tellOnlyUnicast = action === 3;
        return "ipv6_option_unknown";
      }
    }
    i += 2 + buf[i + 1];
  }
  return null;
}
