/**
 * The virtio-net header (a wire format, stack/wire/): offload metadata of one frame, the
 * `struct virtio_net_hdr` that a TAP opened with
 * `IFF_VNET_HDR` puts before every frame it reads and expects before every frame written
 * (<linux/virtio_net.h>; the layout is the virtio spec's 5.1.6 "Device Operation"). With
 * TUNSETOFFLOAD the kernel then hands over ~64 KB TCP "super-frames" (GSO) whose TCP checksum is
 * partial, and segments and checksums the super-frames written to it.
 *
 * The header is 10 bytes, little-endian on every host lb.ts runs on (the TAP's default "legacy"
 * byte order is the host's):
 *
 * ```
 *  0  u8  flags        NEEDS_CSUM 1: the L4 checksum field holds only the folded pseudo-header
 *                      sum (not complemented); the sum from csum_start to the end of the frame,
 *                      complemented, belongs at csum_start + csum_offset.
 *                      DATA_VALID 2: the checksum was verified (received frames only).
 *  1  u8  gso_type     NONE 0, TCPV4 1, UDP 3, TCPV6 4; | ECN 0x80 (CWR seen, RFC 3168)
 *  2  u16 hdr_len      length of the headers (a hint for how much to keep linear)
 *  4  u16 gso_size     payload bytes per segment (the MSS) when gso_type is not NONE
 *  6  u16 csum_start   where the checksummed range starts, from the frame's first byte
 *  8  u16 csum_offset  where the checksum field is, from csum_start (16 TCP, 6 UDP)
 * ```
 *
 * A {@link FrameOffload} is one plain object per owner (a device's `rxOffload`, each sender's
 * own for the frames it sends), rewritten for each frame, never allocated per frame.
 *
 * @module
 */

import { foldChecksum, sumWords } from "./checksum.ts";

/** Bytes of `struct virtio_net_hdr` before each frame on an `IFF_VNET_HDR` TAP. */
export const VNET_HDR_LEN = 10;

/** flags: the L4 checksum is partial (pseudo-header sum only); see the module comment. */
export const VNET_F_NEEDS_CSUM = 1;
/** flags: the checksum was already verified (the kernel says so on frames it hands over). */
export const VNET_F_DATA_VALID = 2;

/** gso_type: a plain frame. */
export const VNET_GSO_NONE = 0;
/** gso_type: a TCP over IPv4 super-frame, to be cut into `gsoSize`-byte segments. */
export const VNET_GSO_TCPV4 = 1;
/** gso_type: a UDP super-frame cut into IP fragments (UFO; never enabled here). */
export const VNET_GSO_UDP = 3;
/** gso_type: a TCP over IPv6 super-frame. */
export const VNET_GSO_TCPV6 = 4;
/** gso_type bit: the super-frame carries CWR (RFC 3168), only on the first segment. */
export const VNET_GSO_ECN = 0x80;

/** Largest frame with offload metadata: a 65535-byte IPv4 datagram plus Ethernet and a tag. */
export const MAX_GSO_FRAME = 0xffff + 18;

/** The fields of one `struct virtio_net_hdr`, as plain numbers; mutable and reused. */
export interface FrameOffload {
  /** {@link VNET_F_NEEDS_CSUM}, {@link VNET_F_DATA_VALID}. */
  flags: number;
  /** {@link VNET_GSO_NONE}, {@link VNET_GSO_TCPV4}, ... (with {@link VNET_GSO_ECN}). */
  gsoType: number;
  /** Length of the headers (Ethernet + IP + TCP), a hint for the kernel. */
  hdrLen: number;
  /** Payload bytes per segment of a super-frame (the MSS). */
  gsoSize: number;
  /** Start of the checksummed range, from the frame's first byte (the L4 header). */
  csumStart: number;
  /** Position of the checksum field, from csumStart. */
  csumOffset: number;
}

/** A zeroed metadata object (one per owner, made once). */
export function newFrameOffload(): FrameOffload {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** Resets `o` to "a plain frame with a complete checksum". */
export function clearOffload(o: FrameOffload): void {
  o.flags = 0;
  o.gsoType = 0;
  o.hdrLen = 0;
  o.gsoSize = 0;
  o.csumStart = 0;
  o.csumOffset = 0;
}

/** Words a {@link FrameOffload} takes in a `Uint16Array` store (see {@link storeOffload}). */
export const OFFLOAD_WORDS = 6;

/**
 * Stores `o` at word `at` of `store` (devices that hold frames, like the in-memory device's ring
 * and the impairment's delay pool, keep each frame's metadata beside it this way).
 */
export function storeOffload(store: Uint16Array, at: number, o: FrameOffload): void {
  store[at] = o.flags;
  store[at + 1] = o.gsoType;
  store[at + 2] = o.hdrLen;
  store[at + 3] = o.gsoSize;
  store[at + 4] = o.csumStart;
  store[at + 5] = o.csumOffset;
}

/** Loads what {@link storeOffload} put at word `at` of `store` into `o`. */
export function loadOffload(store: Uint16Array, at: number, o: FrameOffload): void {
  o.flags = store[at];
  o.gsoType = store[at + 1];
  o.hdrLen = store[at + 2];
  o.gsoSize = store[at + 3];
  o.csumStart = store[at + 4];
  o.csumOffset = store[at + 5];
}

/** Copies every field of `from` into `into`. */
export function copyOffload(from: FrameOffload, into: FrameOffload): void {
  into.flags = from.flags;
  into.gsoType = from.gsoType;
  into.hdrLen = from.hdrLen;
  into.gsoSize = from.gsoSize;
  into.csumStart = from.csumStart;
  into.csumOffset = from.csumOffset;
}

/** True when `o` says anything (a partial or verified checksum, or a super-frame). */
export function hasOffload(o: FrameOffload): boolean {
  return (o.flags | o.gsoType) !== 0;
}

/** Reads the 10-byte header at `buf[off ..)` into `into`. */
export function readVnetHeader(buf: Uint8Array, off: number, into: FrameOffload): void {
  into.flags = buf[off];
  into.gsoType = buf[off + 1];
  into.hdrLen = buf[off + 2] | (buf[off + 3] << 8);
  into.gsoSize = buf[off + 4] | (buf[off + 5] << 8);
  into.csumStart = buf[off + 6] | (buf[off + 7] << 8);
  into.csumOffset = buf[off + 8] | (buf[off + 9] << 8);
}

/** Writes `from` as the 10-byte header at `buf[off ..)`. */
export function writeVnetHeader(buf: Uint8Array, off: number, from: FrameOffload): void {
  buf[off] = from.flags;
  buf[off + 1] = from.gsoType;
  buf[off + 2] = from.hdrLen & 0xff;
  buf[off + 3] = (from.hdrLen >>> 8) & 0xff;
  buf[off + 4] = from.gsoSize & 0xff;
  buf[off + 5] = (from.gsoSize >>> 8) & 0xff;
  buf[off + 6] = from.csumStart & 0xff;
  buf[off + 7] = (from.csumStart >>> 8) & 0xff;
  buf[off + 8] = from.csumOffset & 0xff;
  buf[off + 9] = (from.csumOffset >>> 8) & 0xff;
}

/**
 * Completes a partial checksum (NEEDS_CSUM) in software, as the kernel's `skb_checksum_help`
 * does: the RFC 1071 sum of `buf[frameOff + csumStart .. frameOff + frameLen)`, whose checksum
 * field holds the pseudo-header sum, complemented into that field. A result of 0 is stored as
 * 0xffff (RFC 768 for UDP; for TCP both are the same one's complement zero). False, with nothing
 * written, when the range or the field lies outside the frame.
 */
export function completePartialChecksum(
  buf: Uint8Array,
  frameOff: number,
  frameLen: number,
  o: FrameOffload,
): boolean {
  const start = o.csumStart;
  const field = start + o.csumOffset;
  if (start < 14 || field + 2 > frameLen) return false;
  const c = foldChecksum(sumWords(buf, frameOff + start, frameLen - start));
  const v = c === 0 ? 0xffff : c;
  buf[frameOff + field] = v >>> 8;
  buf[frameOff + field + 1] = v & 0xff;
  return true;
}
