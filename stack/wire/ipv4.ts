/**
 * IPv4 headers (RFC 791): a view with accessors, a builder, and the option copying that
 * fragmentation needs.
 *
 * Layout: version+IHL (1), TOS (1), total length (2), identification (2), flags+fragment offset
 * (2: reserved, DF, MF, 13-bit offset in 8-byte units), TTL (1), protocol (1), header checksum
 * (2), source (4), destination (4), options (0..40, a multiple of 4).
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { checksumAdjust16, checksumAdjust32, foldChecksum, sumWords } from "./checksum.ts";
import { WireView } from "./view.ts";

/** Length of an IPv4 header without options. */
export const IPV4_MIN_HEADER_LEN = 20;
/** Longest IPv4 header: IHL 15 (RFC 791). */
export const IPV4_MAX_HEADER_LEN = 60;
/** Protocol number of ICMP. */
export const IP_PROTO_ICMP = 1;
/** Protocol number of IP in IP (RFC 2003). */
export const IP_PROTO_IPIP = 4;
/** Protocol number of TCP. */
export const IP_PROTO_TCP = 6;
/** Protocol number of UDP. */
export const IP_PROTO_UDP = 17;

/** Flags+offset field: Don't Fragment. */
const FLAG_DF = 0x4000;
/** Flags+offset field: More Fragments. */
const FLAG_MF = 0x2000;
/** Flags+offset field: the 13-bit fragment offset. */
const OFFSET_MASK = 0x1fff;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LEN = 2;
const ID = 4;
const FRAG = 6;
const TTL = 8;
const PROTO = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

/** RFC 791 3.1 option type octet: the "copied" flag (copy into every fragment). */
const OPT_COPIED = 0x80;
/** RFC 791 option End of Option List. */
const OPT_EOL = 0;
/** RFC 791 option No Operation. */
const OPT_NOP = 1;

/**
 * The Internet checksum of the header `buf[off .. off+hl)`: the fixed 20 bytes unrolled (the
 * per-packet case, about twice as fast as the general loop), options through `sumWords`.
 */
function headerChecksum(buf: Uint8Array, off: number, hl: number): number {
  const o = off;
  const sum = ((buf[o] << 8) | buf[o + 1]) + ((buf[o + 2] << 8) | buf[o + 3]) +
    ((buf[o + 4] << 8) | buf[o + 5]) + ((buf[o + 6] << 8) | buf[o + 7]) +
    ((buf[o + 8] << 8) | buf[o + 9]) + ((buf[o + 10] << 8) | buf[o + 11]) +
    ((buf[o + 12] << 8) | buf[o + 13]) + ((buf[o + 14] << 8) | buf[o + 15]) +
    ((buf[o + 16] << 8) | buf[o + 17]) + ((buf[o + 18] << 8) | buf[o + 19]);
  return foldChecksum(
    hl > IPV4_MIN_HEADER_LEN
      ? sumWords(buf, off + IPV4_MIN_HEADER_LEN, hl - IPV4_MIN_HEADER_LEN, sum)
      : sum,
  );
}

/** A view over one IPv4 packet `buf[off .. off+len)`; re-point it with `wrap`. */
export class Ipv4View extends WireView {
  /**
   * Null when the header is well formed and its checksum right, so every accessor is safe and the
   * packet is `buf[off .. off+totalLength)`. Otherwise the first failing rule, in this order:
   * "ipv4_truncated", "ipv4_bad_version", "ipv4_bad_ihl", "ipv4_bad_total_length",
   * "ipv4_bad_checksum" (RFC 1812 5.2.2 lists the same checks for a router).
   */
  check(): string | null {
    if (this.len < IPV4_MIN_HEADER_LEN) return "ipv4_truncated";
    if (this.version !== 4) return "ipv4_bad_version";
    const hl = this.headerLen;
    if (hl < IPV4_MIN_HEADER_LEN || hl > this.len) return "ipv4_bad_ihl";
    const total = this.totalLength;
    if (total < hl || total > this.len) return "ipv4_bad_total_length";
    if (!this.verifyChecksum()) return "ipv4_bad_checksum";
    return null;
  }

  /** The version field (4 for IPv4). */
  get version(): number {
    return this.buf[this.off + VER_IHL] >>> 4;
  }

  /** The IHL field: header length in 32-bit words (5..15). */
  get ihl(): number {
    return this.buf[this.off + VER_IHL] & 0x0f;
  }

  /** Header length in bytes (IHL * 4). */
  get headerLen(): number {
    return (this.buf[this.off + VER_IHL] & 0x0f) << 2;
  }

  /** The type-of-service octet (DSCP and ECN, RFC 2474 / RFC 3168). */
  get tos(): number {
    return this.buf[this.off + TOS];
  }

  /** Sets the TOS octet (the checksum is not updated). */
  set tos(v: number) {
    this.buf[this.off + TOS] = v;
  }

  /** The total length field: header plus payload, in bytes. */
  get totalLength(): number {
    return readU16(this.buf, this.off + TOTAL_LEN);
  }

  /** Sets the total length (the checksum is not updated). */
  set totalLength(v: number) {
    writeU16(this.buf, this.off + TOTAL_LEN, v);
  }

  /** The identification field. */
  get id(): number {
    return readU16(this.buf, this.off + ID);
  }

  /** Sets the identification (the checksum is not updated). */
  set id(v: number) {
    writeU16(this.buf, this.off + ID, v);
  }

  /** The Don't Fragment flag. */
  get dontFragment(): boolean {
    return (this.buf[this.off + FRAG] & (FLAG_DF >>> 8)) !== 0;
  }

  /** Sets or clears DF (the checksum is not updated). */
  set dontFragment(v: boolean) {
    const o = this.off + FRAG;
    this.buf[o] = v ? this.buf[o] | (FLAG_DF >>> 8) : this.buf[o] & ~(FLAG_DF >>> 8);
  }

  /** The More Fragments flag. */
  get moreFragments(): boolean {
    return (this.buf[this.off + FRAG] & (FLAG_MF >>> 8)) !== 0;
  }

  /** Sets or clears MF (the checksum is not updated). */
  set moreFragments(v: boolean) {
    const o = this.off + FRAG;
    this.buf[o] = v ? this.buf[o] | (FLAG_MF >>> 8) : this.buf[o] & ~(FLAG_MF >>> 8);
  }

  /** The fragment offset in bytes (the field counts 8-byte units). */
  get fragmentOffset(): number {
    return (readU16(this.buf, this.off + FRAG) & OFFSET_MASK) << 3;
  }

  /** Sets the fragment offset in bytes (a multiple of 8; lower bits are dropped). Keeps flags. */
  set fragmentOffset(bytes: number) {
    const o = this.off + FRAG;
    writeU16(this.buf, o, (readU16(this.buf, o) & ~OFFSET_MASK) | ((bytes >>> 3) & OFFSET_MASK));
  }

  /** True for a fragment: MF set or a non-zero offset (RFC 791 3.2). */
  get isFragment(): boolean {
    return (readU16(this.buf, this.off + FRAG) & (FLAG_MF | OFFSET_MASK)) !== 0;
  }

  /** The time-to-live field. */
  get ttl(): number {
    return this.buf[this.off + TTL];
  }

  /** Sets the TTL (the checksum is not updated; see `decrementTtl`). */
  set ttl(v: number) {
    this.buf[this.off + TTL] = v;
  }

  /** The protocol field (IP_PROTO_*). */
  get protocol(): number {
    return this.buf[this.off + PROTO];
  }

  /** Sets the protocol (the checksum is not updated). */
  set protocol(v: number) {
    this.buf[this.off + PROTO] = v;
  }

  /** The header checksum field. */
  get headerChecksum(): number {
    return readU16(this.buf, this.off + CHECKSUM);
  }

  /** Sets the header checksum field. */
  set headerChecksum(v: number) {
    writeU16(this.buf, this.off + CHECKSUM, v);
  }

  /** The source address (u32). */
  get src(): number {
    return readU32(this.buf, this.off + SRC);
  }

  /** Sets the source address (the checksum is not updated; see `rewriteSrc`). */
  set src(v: number) {
    writeU32(this.buf, this.off + SRC, v);
  }

  /** The destination address (u32). */
  get dst(): number {
    return readU32(this.buf, this.off + DST);
  }

  /** Sets the destination address (the checksum is not updated; see `rewriteDst`). */
  set dst(v: number) {
    writeU32(this.buf, this.off + DST, v);
  }

  /** Absolute index in `buf` of the options (the byte after the fixed header). */
  get optionsOffset(): number {
    return this.off + IPV4_MIN_HEADER_LEN;
  }

  /** Length of the options in bytes (headerLen - 20). */
  get optionsLen(): number {
    return this.headerLen - IPV4_MIN_HEADER_LEN;
  }

  /** Absolute index in `buf` of the payload. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** Payload length: totalLength - headerLen. */
  get payloadLen(): number {
    return this.totalLength - this.headerLen;
  }

  /** Recomputes and writes the header checksum (RFC 791 3.1). */
  fillChecksum(): void {
    writeU16(this.buf, this.off + CHECKSUM, 0);
    writeU16(this.buf, this.off + CHECKSUM, headerChecksum(this.buf, this.off, this.headerLen));
  }

  /** True when the header checksum is right (the sum over the header folds to 0). */
  verifyChecksum(): boolean {
    return headerChecksum(this.buf, this.off, this.headerLen) === 0;
  }

  /**
   * Decrements the TTL and updates the checksum incrementally (RFC 1812 5.3.1, RFC 1624 eqn. 3);
   * returns the new TTL. The caller drops the packet (ICMP time exceeded) instead when the TTL is
   * already 1 or 0.
   */
  decrementTtl(): number {
    const o = this.off;
    const oldWord = readU16(this.buf, o + TTL);
    this.buf[o + TTL] = this.buf[o + TTL] - 1;
    const check = checksumAdjust16(this.headerChecksum, oldWord, readU16(this.buf, o + TTL));
    writeU16(this.buf, o + CHECKSUM, check);
    return this.buf[o + TTL];
  }

  /** Writes a new source address and updates the header checksum incrementally (RFC 1624). */
  rewriteSrc(addr: number): void {
    const check = checksumAdjust32(this.headerChecksum, this.src, addr);
    writeU32(this.buf, this.off + SRC, addr);
    writeU16(this.buf, this.off + CHECKSUM, check);
  }

  /** Writes a new destination address and updates the header checksum incrementally (RFC 1624). */
  rewriteDst(addr: number): void {
    const check = checksumAdjust32(this.headerChecksum, this.dst, addr);
    writeU32(this.buf, this.off + DST, addr);
    writeU16(this.buf, this.off + CHECKSUM, check);
  }
}

/** The fields of an IPv4 header to build; keep one and overwrite its fields per packet. */
export interface Ipv4Header {
  /** Source address (u32). */
  src: number;
  /** Destination address (u32). */
  dst: number;
  /** Protocol number (IP_PROTO_*). */
  protocol: number;
  /** Time to live. */
  ttl: number;
  /** Identification (16 bits). */
  id: number;
  /** Type-of-service octet. */
  tos: number;
  /** Don't Fragment flag. */
  dontFragment: boolean;
  /** More Fragments flag. */
  moreFragments: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragmentOffset: number;
  /** Payload length in bytes (total length = header length + this). */
  payloadLen: number;
}

/** A fresh `Ipv4Header`: zero addresses, TTL 64 (Linux's default), DF clear, no payload. */
export function newIpv4Header(): Ipv4Header {
  return {
    src: 0,
    dst: 0,
    protocol: 0,
    ttl: 64,
    id: 0,
    tos: 0,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    payloadLen: 0,
  };
}

/**
 * Writes an IPv4 header with its checksum at `buf[off]`; returns the header length. `options`
 * (at most 40 bytes) are copied after the fixed header and padded with End-of-Option-List zeros
 * to a multiple of 4 (RFC 791 3.1). Longer options are a programming error: RangeError.
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  h: Ipv4Header,
  options?: Uint8Array,
): number {
  let hl = IPV4_MIN_HEADER_LEN;
  if (options !== undefined && options.length > 0) {
    const n = options.length;
    if (n > IPV4_MAX_HEADER_LEN - IPV4_MIN_HEADER_LEN) {
      throw new RangeError(`IPv4 options of ${n} bytes exceed 40`);
    }
    const padded = (n + 3) & ~3;
    for (let i = 0; i < n; i++) buf[off + IPV4_MIN_HEADER_LEN + i] = options[i];
    for (let i = n; i < padded; i++) buf[off + IPV4_MIN_HEADER_LEN + i] = OPT_EOL;
    hl += padded;
  }
  buf[off + VER_IHL] = 0x40 | (hl >>> 2);
  buf[off + TOS] = h.tos;
  writeU16(buf, off + TOTAL_LEN, hl + h.payloadLen);
  writeU16(buf, off + ID, h.id);
  writeU16(
    buf,
    off + FRAG,
    (h.dontFragment ? FLAG_DF : 0) | (h.moreFragments ? FLAG_MF : 0) |
      ((h.fragmentOffset >>> 3) & OFFSET_MASK),
  );
  buf[off + TTL] = h.ttl;
  buf[off + PROTO] = h.protocol;
  writeU16(buf, off + CHECKSUM, 0);
  writeU32(buf, off + SRC, h.src);
  writeU32(buf, off + DST, h.dst);
  writeU16(buf, off + CHECKSUM, headerChecksum(buf, off, hl));
  return hl;
}

/**
 * Copies the options of `src` whose type has the "copied" flag (RFC 791 3.1: e.g. security,
 * source routes) to `dst[off..)`, as fragments after the first must carry them (RFC 791 3.2,
 * RFC 1812 5.2.6); others (record route, timestamp, NOP) are left out. Pads with EOL zeros to a
 * multiple of 4 and returns the bytes written (0..40). Stops at EOL or at an option whose length
 * is malformed, copying nothing of it. `src` must have passed `check()`.
 */
export function copyFragmentOptions(src: Ipv4View, dst: Uint8Array, off: number): number {
  const b = src.buf;
  let i = src.off + IPV4_MIN_HEADER_LEN;
  const end = src.off + src.headerLen;
  let n = 0;
  while (i < end) {
    const type = b[i];
    if (type === OPT_EOL) break;
    if (type === OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) break;
    const optLen = b[i + 1];
    if (optLen < 2 || i + optLen > end) break;
    if ((type & OPT_COPIED) !== 0) {
      for (let k = 0; k < optLen; k++) dst[off + n + k] = b[i + k];
      n += optLen;
    }
    i += optLen;
  }
  const padded = (n + 3) & ~3;
  for (let k = n; k < padded; k++) dst[off + k] = OPT_EOL;
  return padded;
}
