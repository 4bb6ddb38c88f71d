/**
 * TCP headers (RFC 9293 3.1). Layout: source port (2), destination port (2), sequence number
 * (4), acknowledgment number (4), data offset (4 bits, in 32-bit words) + reserved (4 bits),
 * flags (1: CWR ECE URG ACK PSH RST SYN FIN), window (2), checksum (2), urgent pointer (2),
 * options (0..40). Options are parsed and written by tcp_options.ts.
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { internetChecksum, pseudoHeaderSum, pseudoHeaderSum6 } from "./checksum.ts";
import { IP_PROTO_TCP } from "./ipv4.ts";
import { WireView } from "./view.ts";

/** Flag: no more data from the sender. */
export const TCP_FIN = 1;
/** Flag: synchronize sequence numbers. */
export const TCP_SYN = 2;
/** Flag: reset the connection. */
export const TCP_RST = 4;
/** Flag: push. */
export const TCP_PSH = 8;
/** Flag: the acknowledgment field is significant. */
export const TCP_ACK = 16;
/** Flag: the urgent pointer is significant. */
export const TCP_URG = 32;
/** Flag: ECN echo (RFC 3168). */
export const TCP_ECE = 64;
/** Flag: congestion window reduced (RFC 3168). */
export const TCP_CWR = 128;
/** Length of the TCP header without options. */
export const TCP_MIN_HEADER_LEN = 20;
/** Longest TCP header: data offset 15. */
export const TCP_MAX_HEADER_LEN = 60;

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const DATA_OFF = 12;
const FLAGS = 13;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

/** A view over one TCP segment `buf[off .. off+len)` (len: the IPv4 payload length). */
export class TcpView extends WireView {
  /**
   * Null when the fixed header fits and the data offset is 5..15 words within `len`; otherwise
   * "tcp_truncated" or "tcp_bad_offset". The checksum is checked separately (`verifyChecksum`).
   */
  check(): string | null {
    if (this.len < TCP_MIN_HEADER_LEN) return "tcp_truncated";
    const hl = this.headerLen;
    if (hl < TCP_MIN_HEADER_LEN || hl > this.len) return "tcp_bad_offset";
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

  /** Sequence number (u32). */
  get seq(): number {
    return readU32(this.buf, this.off + SEQ);
  }

  /** Sets the sequence number (the checksum is not updated). */
  set seq(v: number) {
    writeU32(this.buf, this.off + SEQ, v);
  }

  /** Acknowledgment number (u32). */
  get ack(): number {
    return readU32(this.buf, this.off + ACK);
  }

  /** Sets the acknowledgment number (the checksum is not updated). */
  set ack(v: number) {
    writeU32(this.buf, this.off + ACK, v);
  }

  /** The data offset field: header length in 32-bit words. */
  get dataOffset(): number {
    return this.buf[this.off + DATA_OFF] >>> 4;
  }

  /** Header length in bytes, options included (dataOffset * 4). */
  get headerLen(): number {
    return (this.buf[this.off + DATA_OFF] >>> 4) << 2;
  }

  /** The eight flag bits (TCP_FIN .. TCP_CWR). */
  get flags(): number {
    return this.buf[this.off + FLAGS];
  }

  /** Sets the flag bits (the checksum is not updated). */
  set flags(v: number) {
    this.buf[this.off + FLAGS] = v;
  }

  /** True when every bit of `flag` is set. */
  has(flag: number): boolean {
    return (this.buf[this.off + FLAGS] & flag) === flag;
  }

  /** The window field (unscaled). */
  get window(): number {
    return readU16(this.buf, this.off + WINDOW);
  }

  /** Sets the window field (the checksum is not updated). */
  set window(v: number) {
    writeU16(this.buf, this.off + WINDOW, v);
  }

  /** The checksum field. */
  get checksum(): number {
    return readU16(this.buf, this.off + CHECKSUM);
  }

  /** Sets the checksum field. */
  set checksum(v: number) {
    writeU16(this.buf, this.off + CHECKSUM, v);
  }

  /** The urgent pointer. */
  get urgent(): number {
    return readU16(this.buf, this.off + URGENT);
  }

  /** Sets the urgent pointer (the checksum is not updated). */
  set urgent(v: number) {
    writeU16(this.buf, this.off + URGENT, v);
  }

  /** Absolute index in `buf` of the options. */
  get optionsOffset(): number {
    return this.off + TCP_MIN_HEADER_LEN;
  }

  /** Length of the options: headerLen - 20. */
  get optionsLen(): number {
    return this.headerLen - TCP_MIN_HEADER_LEN;
  }

  /** Absolute index in `buf` of the data. */
  get payloadOffset(): number {
    return this.off + this.headerLen;
  }

  /** Length of the data: len - headerLen. */
  get payloadLen(): number {
    return this.len - this.headerLen;
  }

  /** True when the checksum over pseudo-header and the `len` bytes is right (RFC 9293 3.1). */
  verifyChecksum(src: number, dst: number): boolean {
    const acc = pseudoHeaderSum(src, dst, IP_PROTO_TCP, this.len);
    return internetChecksum(this.buf, this.off, this.len, acc) === 0;
  }

  /** Computes and writes the checksum over pseudo-header and the `len` bytes (RFC 9293 3.1). */
  fillChecksum(src: number, dst: number): void {
    writeU16(this.buf, this.off + CHECKSUM, 0);
    const acc = pseudoHeaderSum(src, dst, IP_PROTO_TCP, this.len);
    writeU16(this.buf, this.off + CHECKSUM, internetChecksum(this.buf, this.off, this.len, acc));
  }

  /**
   * {@link verifyChecksum} over IPv6 (RFC 8200 8.1): the addresses are 16 bytes at
   * `addrs[srcOff]` and `addrs[dstOff]`.
   */
  verifyChecksum6(addrs: Uint8Array, srcOff: number, dstOff: number): boolean {
    const acc = pseudoHeaderSum6(addrs, srcOff, dstOff, IP_PROTO_TCP, this.len);
    return internetChecksum(this.buf, this.off, this.len, acc) === 0;
  }

  /** {@link fillChecksum} over IPv6: the addresses are 16 bytes at `addrs[srcOff]`, `[dstOff]`. */
  fillChecksum6(addrs: Uint8Array, srcOff: number, dstOff: number): void {
    writeU16(this.buf, this.off + CHECKSUM, 0);
    const acc = pseudoHeaderSum6(addrs, srcOff, dstOff, IP_PROTO_TCP, this.len);
    writeU16(this.buf, this.off + CHECKSUM, internetChecksum(this.buf, this.off, this.len, acc));
  }
}

/** The fields of a TCP header to build; keep one and overwrite its fields per segment. */
export interface TcpHeader {
  /** Source port. */
  srcPort: number;
  /** Destination port. */
  dstPort: number;
  /** Sequence number (u32). */
  seq: number;
  /** Acknowledgment number (u32). */
  ack: number;
  /** Flag bits (TCP_*). */
  flags: number;
  /** Window field (already scaled down). */
  window: number;
  /** Urgent pointer. */
  urgent: number;
  /** Length of the options that follow the fixed header: a multiple of 4, at most 40. */
  optionsLen: number;
}

/** A fresh all-zero `TcpHeader`. */
export function newTcpHeader(): TcpHeader {
  return { srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0, optionsLen: 0 };
}

/**
 * Writes the fixed 20-byte TCP header at `buf[off]` with a data offset covering `h.optionsLen`
 * bytes of options and checksum 0; returns the header length, 20 + optionsLen. The options bytes
 * themselves are written by `writeTcpOptions(buf, off + 20, ...)`, the checksum afterwards by
 * `TcpView.fillChecksum` once the data is in place.
 */
export function writeTcpHeader(buf: Uint8Array, off: number, h: TcpHeader): number {
  const hl = TCP_MIN_HEADER_LEN + h.optionsLen;
  writeU16(buf, off + SRC_PORT, h.srcPort);
  writeU16(buf, off + DST_PORT, h.dstPort);
  writeU32(buf, off + SEQ, h.seq);
  writeU32(buf, off + ACK, h.ack);
  buf[off + DATA_OFF] = (hl >>> 2) << 4;
  buf[off + FLAGS] = h.flags;
  writeU16(buf, off + WINDOW, h.window);
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + URGENT, h.urgent);
  return hl;
}
