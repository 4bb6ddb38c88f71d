/**
 * UDP headers (RFC 768). Layout: source port (2), destination port (2), length (2: header plus
 * data), checksum (2: over the pseudo-header, header and data; 0 means none was computed).
 *
 * @module
 */

import { readU16, writeU16 } from "./bytes.ts";
import { internetChecksum, pseudoHeaderSum, pseudoHeaderSum6 } from "./checksum.ts";
import { IP_PROTO_UDP } from "./ipv4.ts";
import { IPV6_NH_UDP } from "./ipv6.ts";
import { WireView } from "./view.ts";

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

/** A view over one UDP datagram `buf[off .. off+len)` (len: the IPv4 payload length). */
export class UdpView extends WireView {
  /**
   * Null when the header fits and its length field is 8..len, so the datagram is
   * `buf[off .. off+length)`; otherwise "udp_truncated" or "udp_bad_length". The checksum is
   * checked separately (`verifyChecksum`), since it needs the IP addresses.
   */
  check(): string | null {
    if (this.len < UDP_HEADER_LEN) return "udp_truncated";
    const length = this.length;
    if (length < UDP_HEADER_LEN || length > this.len) return "udp_bad_length";
    return null;
  }

  /** Source port. */
  get srcPort(): number {
    return readU16(this.buf, this.off + SRC_PORT);
  }

  /** Sets the source port (the checksum is not updated). */
  set srcPort(v: number) {
    writeU16(this.buf, this.off + SRC_PORT, v);
  }

  /** Destination port. */
  get dstPort(): number {
    return readU16(this.buf, this.off + DST_PORT);
  }

  /** Sets the destination port (the checksum is not updated). */
  set dstPort(v: number) {
    writeU16(this.buf, this.off + DST_PORT, v);
  }

  /** The length field: header plus data. */
  get length(): number {
    return readU16(this.buf, this.off + LENGTH);
  }

  /** Sets the length field. */
  set length(v: number) {
    writeU16(this.buf, this.off + LENGTH, v);
  }

  /** The checksum field (0: none). */
  get checksum(): number {
    return readU16(this.buf, this.off + CHECKSUM);
  }

  /** Sets the checksum field. */
  set checksum(v: number) {
    writeU16(this.buf, this.off + CHECKSUM, v);
  }

  /** Absolute index in `buf` of the data. */
  get payloadOffset(): number {
    return this.off + UDP_HEADER_LEN;
  }

  /** Length of the data: length - 8. */
  get payloadLen(): number {
    return this.length - UDP_HEADER_LEN;
  }

  /**
   * True when the checksum is right for these IPv4 addresses, or absent (field 0: the sender
   * computed none, RFC 768).
   */
  verifyChecksum(src: number, dst: number): boolean {
    if (this.checksum === 0) return true;
    const length = this.length;
    const acc = pseudoHeaderSum(src, dst, IP_PROTO_UDP, length);
    return internetChecksum(this.buf, this.off, length, acc) === 0;
  }

  /**
   * True when the checksum is right for the IPv6 addresses at `this.buf[srcOff ..+16)` and
   * `[dstOff ..+16)`. Over IPv6 the checksum is mandatory (RFC 8200 8.1): a zero field is wrong.
   */
  verifyChecksum6(srcOff: number, dstOff: number): boolean {
    if (this.checksum === 0) return false;
    const length = this.length;
    const acc = pseudoHeaderSum6(this.buf, srcOff, dstOff, IPV6_NH_UDP, length);
    return internetChecksum(this.buf, this.off, length, acc) === 0;
  }

  /** {@link fillChecksum} over IPv6: the addresses are at `this.buf[srcOff]`, `[dstOff]`. */
  fillChecksum6(srcOff: number, dstOff: number): void {
    const length = this.length;
    writeU16(this.buf, this.off + CHECKSUM, 0);
    const acc = pseudoHeaderSum6(this.buf, srcOff, dstOff, IPV6_NH_UDP, length);
    const check = internetChecksum(this.buf, this.off, length, acc);
    writeU16(this.buf, this.off + CHECKSUM, check === 0 ? 0xffff : check);
  }

  /**
   * Computes and writes the checksum over pseudo-header, header and `length` bytes. A computed 0
   * is sent as 0xffff, since 0 means "no checksum" (RFC 768).
   */
  fillChecksum(src: number, dst: number): void {
    const length = this.length;
    writeU16(this.buf, this.off + CHECKSUM, 0);
    const check = internetChecksum(
      this.buf,
      this.off,
      length,
      pseudoHeaderSum(src, dst, IP_PROTO_UDP, length),
    );
    writeU16(this.buf, this.off + CHECKSUM, check === 0 ? 0xffff : check);
  }
}

/**
 * Writes a UDP header at `buf[off]` with length 8 + payloadLen and checksum 0; returns 8. Fill
 * the checksum afterwards with `UdpView.fillChecksum` once the data is in place.
 */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  payloadLen: number,
): number {
  writeU16(buf, off + SRC_PORT, srcPort);
  writeU16(buf, off + DST_PORT, dstPort);
  writeU16(buf, off + LENGTH, UDP_HEADER_LEN + payloadLen);
  writeU16(buf, off + CHECKSUM, 0);
  return UDP_HEADER_LEN;
}
