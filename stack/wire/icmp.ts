/**
 * ICMP for IPv4 (RFC 792): echo, and the error messages that quote the offending datagram
 * (destination unreachable, time exceeded), with the next-hop MTU of RFC 1191.
 *
 * Layout: type (1), code (1), checksum (2), rest of header (4: identifier+sequence for echo,
 * unused+next-hop MTU for "fragmentation needed"), data. The checksum covers the whole message.
 *
 * @module
 */

import { copyBytes, readU16, readU32, writeU16, writeU32 } from "./bytes.ts";
import { internetChecksum } from "./checksum.ts";
import { WireView } from "./view.ts";

/** Length of the ICMP header (type, code, checksum, rest of header). */
export const ICMP_HEADER_LEN = 8;
/** Type: echo reply. */
export const ICMP_ECHO_REPLY = 0;
/** Type: destination unreachable. */
export const ICMP_DEST_UNREACHABLE = 3;
/** Type: echo request. */
export const ICMP_ECHO_REQUEST = 8;
/** Type: time exceeded. */
export const ICMP_TIME_EXCEEDED = 11;
/** Destination unreachable code: protocol unreachable. */
export const ICMP_CODE_PROTO_UNREACHABLE = 2;
/** Destination unreachable code: port unreachable. */
export const ICMP_CODE_PORT_UNREACHABLE = 3;
/** Destination unreachable code: fragmentation needed and DF set (RFC 1191). */
export const ICMP_CODE_FRAG_NEEDED = 4;
/** Time exceeded code: TTL exceeded in transit. */
export const ICMP_CODE_TTL_EXCEEDED = 0;
/** Time exceeded code: fragment reassembly time exceeded. */
export const ICMP_CODE_REASSEMBLY_TIME_EXCEEDED = 1;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;
const IDENT = 4;
const SEQ = 6;
const MTU = 6;

/** A view over one ICMP message `buf[off .. off+len)` (the whole IPv4 payload). */
export class IcmpView extends WireView {
  /** Null when the 8-byte header fits and the checksum over the message is right. */
  check(): string | null {
    if (this.len < ICMP_HEADER_LEN) return "icmp_truncated";
    if (internetChecksum(this.buf, this.off, this.len) !== 0) return "icmp_bad_checksum";
    return null;
  }

  /** The type (ICMP_*). */
  get type(): number {
    return this.buf[this.off + TYPE];
  }

  /** Sets the type (the checksum is not updated). */
  set type(v: number) {
    this.buf[this.off + TYPE] = v;
  }

  /** The code. */
  get code(): number {
    return this.buf[this.off + CODE];
  }

  /** Sets the code (the checksum is not updated). */
  set code(v: number) {
    this.buf[this.off + CODE] = v;
  }

  /** The checksum field. */
  get checksum(): number {
    return readU16(this.buf, this.off + CHECKSUM);
  }

  /** Sets the checksum field. */
  set checksum(v: number) {
    writeU16(this.buf, this.off + CHECKSUM, v);
  }

  /** The 4-byte rest of the header as a u32. */
  get restOfHeader(): number {
    return readU32(this.buf, this.off + REST);
  }

  /** Sets the rest of the header (the checksum is not updated). */
  set restOfHeader(v: number) {
    writeU32(this.buf, this.off + REST, v);
  }

  /** Echo identifier (RFC 792). */
  get identifier(): number {
    return readU16(this.buf, this.off + IDENT);
  }

  /** Sets the echo identifier (the checksum is not updated). */
  set identifier(v: number) {
    writeU16(this.buf, this.off + IDENT, v);
  }

  /** Echo sequence number (RFC 792). */
  get sequence(): number {
    return readU16(this.buf, this.off + SEQ);
  }

  /** Sets the echo sequence number (the checksum is not updated). */
  set sequence(v: number) {
    writeU16(this.buf, this.off + SEQ, v);
  }

  /** Next-hop MTU of a "fragmentation needed" message (RFC 1191 4; 0 from old routers). */
  get nextHopMtu(): number {
    return readU16(this.buf, this.off + MTU);
  }

  /** Absolute index in `buf` of the data (echo payload, or the quoted datagram of an error). */
  get payloadOffset(): number {
    return this.off + ICMP_HEADER_LEN;
  }

  /** Length of the data after the 8-byte header. */
  get payloadLen(): number {
    return this.len - ICMP_HEADER_LEN;
  }

  /** Recomputes and writes the checksum over the whole message. */
  fillChecksum(): void {
    writeU16(this.buf, this.off + CHECKSUM, 0);
    writeU16(this.buf, this.off + CHECKSUM, internetChecksum(this.buf, this.off, this.len));
  }
}

/**
 * Writes an echo request or reply at `buf[off]`: header, `payload[payloadOff .. +payloadLen)`
 * and the checksum; returns 8 + payloadLen. The payload may already sit in place (the same
 * buffer at `off + 8`), as when a request is turned into its reply.
 */
export function writeIcmpEcho(
  buf: Uint8Array,
  off: number,
  type: number,
  id: number,
  seq: number,
  payload: Uint8Array,
  payloadOff: number,
  payloadLen: number,
): number {
  copyBytes(payload, payloadOff, buf, off + ICMP_HEADER_LEN, payloadLen);
  buf[off + TYPE] = type;
  buf[off + CODE] = 0;
  writeU16(buf, off + CHECKSUM, 0);
  writeU16(buf, off + IDENT, id);
  writeU16(buf, off + SEQ, seq);
  const len = ICMP_HEADER_LEN + payloadLen;
  writeU16(buf, off + CHECKSUM, internetChecksum(buf, off, len));
  return len;
}

/**
 * Writes an error message at `buf[off]`: type, code, `restOfHeader` (e.g. the next-hop MTU in the
 * low 16 bits for ICMP_CODE_FRAG_NEEDED, RFC 1191), then `quoted[quotedOff .. +quotedLen)`: the
 * offending datagram's IP header and at least 8 bytes of its data (RFC 792); RFC 1812 4.3.2.3
 * allows more, up to 576 bytes in all. The caller picks the length. Returns 8 + quotedLen.
 */
export function writeIcmpError(
  buf: Uint8Array,
  off: number,
  type: number,
  code: number,
  restOfHeader: number,
  quoted: Uint8Array,
  quotedOff: number,
  quotedLen: number,
): number {
  copyBytes(quoted, quotedOff, buf, off + ICMP_HEADER_LEN, quotedLen);
  buf[off + TYPE] = type;
  buf[off + CODE] = code;
  writeU16(buf, off + CHECKSUM, 0);
  writeU32(buf, off + REST, restOfHeader);
  const len = ICMP_HEADER_LEN + quotedLen;
  writeU16(buf, off + CHECKSUM, internetChecksum(buf, off, len));
  return len;
}
