/**
 * TCP options (RFC 9293 3.1, 3.2): MSS, window scale (RFC 7323 2), SACK-permitted and SACK
 * (RFC 2018), timestamps (RFC 7323 3). One reusable `TcpOptions` is filled per segment.
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "./bytes.ts";

/** Option kind: end of option list. */
export const TCP_OPT_EOL = 0;
/** Option kind: no operation (padding). */
export const TCP_OPT_NOP = 1;
/** Option kind: maximum segment size (length 4). */
export const TCP_OPT_MSS = 2;
/** Option kind: window scale (length 3, RFC 7323). */
export const TCP_OPT_WS = 3;
/** Option kind: SACK permitted (length 2, RFC 2018). */
export const TCP_OPT_SACK_PERM = 4;
/** Option kind: SACK blocks (length 2 + 8n, RFC 2018). */
export const TCP_OPT_SACK = 5;
/** Option kind: timestamps (length 10, RFC 7323). */
export const TCP_OPT_TS = 8;
/** Largest window shift (RFC 7323 2.3: a larger value is used as 14). */
export const TCP_MAX_WINDOW_SCALE = 14;
/** Most option bytes a header carries (data offset 15). */
export const TCP_MAX_OPTIONS_LEN = 40;

/** The options of one segment; `reset()` and refill it per segment. -1 / false: absent. */
export class TcpOptions {
  /** Maximum segment size, or -1. */
  mss = -1;
  /** Window shift count 0..14, or -1. */
  windowScale = -1;
  /** SACK-permitted seen / to send. */
  sackPermitted = false;
  /** Timestamps seen / to send. */
  hasTimestamp = false;
  /** TSval (u32). */
  tsVal = 0;
  /** TSecr (u32). */
  tsEcr = 0;
  /** Number of SACK blocks in `sackBlocks` (0..4). */
  sackCount = 0;
  /** SACK blocks as (left, right) u32 pairs: block i is [2i], [2i+1]. */
  readonly sackBlocks: Uint32Array = new Uint32Array(8);

  /** Marks every option absent. */
  reset(): void {
    this.mss = -1;
    this.windowScale = -1;
    this.sackPermitted = false;
    this.hasTimestamp = false;
    this.tsVal = 0;
    this.tsEcr = 0;
    this.sackCount = 0;
  }
}

/**
 * Parses the options `buf[off .. off+len)` into `out` (reset first). Returns null, or
 * "tcp_bad_option" when an option's length is malformed: below 2, or running past the end
 * (RFC 9293 3.1 MUST-7: handle an illegal length without crashing). Unknown kinds are skipped by
 * their length (RFC 9293 3.2 MUST-68). A known kind with the wrong length is skipped as well, as
 * Linux does (tcp_parse_options). Parsing stops at EOL. A window scale above 14 is read as 14
 * (RFC 7323 2.3).
 */
export function parseTcpOptions(
  buf: Uint8Array,
  off: number,
  len: number,
  out: TcpOptions,
): string | null {
  out.reset();
  let i = off;
  const end = off + len;
  while (i < end) {
    const kind = buf[i];
    if (kind === TCP_OPT_EOL) return null;
    if (kind === TCP_OPT_NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return "tcp_bad_option";
    const optLen = buf[i + 1];
    if (optLen < 2 || i + optLen > end) return "tcp_bad_option";
    switch (kind) {
      case TCP_OPT_MSS:
        if (optLen === 4) out.mss = readU16(buf, i + 2);
        break;
      case TCP_OPT_WS:
        if (optLen === 3) {
          const ws = buf[i + 2];
          out.windowScale = ws > TCP_MAX_WINDOW_SCALE ? TCP_MAX_WINDOW_SCALE : ws;
        }
        break;
      case TCP_OPT_SACK_PERM:
        if (optLen === 2) out.sackPermitted = true;
        break;
      case TCP_OPT_SACK: {
        const n = (optLen - 2) >>> 3;
        if ((optLen - 2) % 8 === 0 && n >= 1 && n <= 4) {
          for (let k = 0; k < n; k++) {
            out.sackBlocks[2 * k] = readU32(buf, i + 2 + 8 * k);
            out.sackBlocks[2 * k + 1] = readU32(buf, i + 6 + 8 * k);
          }
          out.sackCount = n;
        }
        break;
      }
      case TCP_OPT_TS:
        if (optLen === 10) {
          out.hasTimestamp = true;
          out.tsVal = readU32(buf, i + 2);
          out.tsEcr = readU32(buf, i + 6);
        }
        break;
    }
    i += optLen;
  }
  return null;
}

/** SACK blocks that fit beside the other options in 40 bytes (at most `sackCount`). */
function sackBlocksToWrite(opts: TcpOptions): number {
  if (opts.sackCount <= 0) return 0;
  const room = TCP_MAX_OPTIONS_LEN - otherOptionsLength(opts) - 4;
  const fit = room < 0 ? 0 : room >>> 3;
  const n = opts.sackCount > 4 ? 4 : opts.sackCount;
  return n < fit ? n : fit;
}

/** Bytes of every option but SACK blocks, as `writeTcpOptions` lays them out. */
function otherOptionsLength(opts: TcpOptions): number {
  let n = 0;
  if (opts.mss >= 0) n += 4;
  if (opts.hasTimestamp) n += 12;
  else if (opts.sackPermitted) n += 4;
  if (opts.windowScale >= 0) n += 4;
  return n;
}

/**
 * Bytes `writeTcpOptions` writes for `opts`: a multiple of 4, at most 40. SACK blocks that do not
 * fit are left out (beside timestamps, 3 of 4 fit, as in Linux).
 */
export function tcpOptionsLength(opts: TcpOptions): number {
  const sack = sackBlocksToWrite(opts);
  return otherOptionsLength(opts) + (sack > 0 ? 4 + 8 * sack : 0);
}

/**
 * Writes `opts` at `buf[off]` in Linux's order and alignment (tcp_options_write): MSS;
 * SACK_PERM + TS (or NOP NOP TS, or NOP NOP SACK_PERM); NOP WS; NOP NOP SACK. Every option group
 * is 4-byte aligned with NOPs, so the result needs no trailing padding. Returns the bytes
 * written, `tcpOptionsLength(opts)`.
 */
export function writeTcpOptions(buf: Uint8Array, off: number, opts: TcpOptions): number {
  let i = off;
  if (opts.mss >= 0) {
    buf[i] = TCP_OPT_MSS;
    buf[i + 1] = 4;
    writeU16(buf, i + 2, opts.mss);
    i += 4;
  }
  if (opts.hasTimestamp) {
    if (opts.sackPermitted) {
      buf[i] = TCP_OPT_SACK_PERM;
      buf[i + 1] = 2;
    } else {
      buf[i] = TCP_OPT_NOP;
      buf[i + 1] = TCP_OPT_NOP;
    }
    buf[i + 2] = TCP_OPT_TS;
    buf[i + 3] = 10;
    writeU32(buf, i + 4, opts.tsVal);
    writeU32(buf, i + 8, opts.tsEcr);
    i += 12;
  } else if (opts.sackPermitted) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_NOP;
    buf[i + 2] = TCP_OPT_SACK_PERM;
    buf[i + 3] = 2;
    i += 4;
  }
  if (opts.windowScale >= 0) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_WS;
    buf[i + 2] = 3;
    buf[i + 3] = opts.windowScale;
    i += 4;
  }
  const sack = sackBlocksToWrite(opts);
  if (sack > 0) {
    buf[i] = TCP_OPT_NOP;
    buf[i + 1] = TCP_OPT_NOP;
    buf[i + 2] = TCP_OPT_SACK;
    buf[i + 3] = 2 + 8 * sack;
    i += 4;
    for (let k = 0; k < sack; k++) {
      writeU32(buf, i, opts.sackBlocks[2 * k]);
      writeU32(buf, i + 4, opts.sackBlocks[2 * k + 1]);
      i += 8;
    }
  }
  return i - off;
}
