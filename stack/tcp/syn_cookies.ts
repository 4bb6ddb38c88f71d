/**
 * SYN cookies (RFC 4987 3.6; the encoding of Linux's `syncookies.c`): when a listener's SYN
 * backlog is full, the SYN-ACK's sequence number itself carries what the connection needs, and no
 * state is kept until the handshake's final ACK returns it (its ACK number minus one).
 *
 *   cookie = H1(tuple) + ISN_peer + (minute << 24) + ((H2(tuple, minute) + data) mod 2^24)
 *
 * `data` (7 bits) holds the MSS index (2 bits, a table of common sizes), the peer's window scale
 * (4 bits, 15 = none) and SACK-permitted (1 bit). The top 8 bits are a minute counter: a cookie is
 * honoured for two minutes. The hashes are keyed HalfSipHash, so cookies cannot be forged.
 *
 * @module
 */

import { hash3, hash4, type HashKey, randomHashKey } from "./hash.ts";

/** MSS values a cookie can carry (Linux's msstab for IPv4). */
export const COOKIE_MSS_TABLE: readonly number[] = [536, 1300, 1440, 1460];
/** Minutes a cookie stays valid. */
export const COOKIE_MAX_AGE_MINUTES = 2;
const DATA_LIMIT = 128; // 7 bits of data
const NO_WSCALE = 15;

/** What a valid cookie gives back. */
export interface CookieData {
  /** The MSS to use toward the peer (from the table, at most what it offered). */
  mss: number;
  /** The peer's window scale, or -1 when it sent none. */
  windowScale: number;
  /** The peer sent SACK-permitted. */
  sackPermitted: boolean;
}

/** Makes and checks SYN cookies with keys chosen at creation. */
export class SynCookies {
  readonly #k1: HashKey;
  readonly #k2: HashKey;
  /** The decoded data of the last successful `check` (reused: no allocation). */
  readonly last: CookieData = { mss: 536, windowScale: -1, sackPermitted: false };

  /** Cookies with fresh random keys (or the given ones, for tests). */
  constructor(k1: HashKey = randomHashKey(), k2: HashKey = randomHashKey()) {
    this.#k1 = k1;
    this.#k2 = k2;
  }

  /**
   * The cookie (our ISN) for a SYN from `src:srcPort` to `dst:dstPort` carrying sequence number
   * `peerIsn`, peer MSS `mss` (-1: none), window scale `wscale` (-1: none), SACK-permitted.
   */
  make(
    src: number,
    srcPort: number,
    dst: number,
    dstPort: number,
    peerIsn: number,
    mss: number,
    wscale: number,
    sack: boolean,
    nowMs: number,
  ): number {
    let idx = 0;
    const peerMss = mss < 0 ? 536 : mss;
    for (let i = COOKIE_MSS_TABLE.length - 1; i > 0; i--) {
      if (peerMss >= COOKIE_MSS_TABLE[i]) {
        idx = i;
        break;
      }
    }
    const data = idx | ((wscale < 0 ? NO_WSCALE : wscale) << 2) | (sack ? 64 : 0);
    const minute = Math.floor(nowMs / 60_000) & 0xff;
    const ports = (srcPort << 16) | dstPort;
    const h1 = hash3(this.#k1, src, dst, ports);
    const h2 = hash4(this.#k2, src, dst, ports, minute);
    return (h1 + peerIsn + (minute << 24) + ((h2 + data) & 0xffffff)) >>> 0;
  }

  /**
   * Checks the cookie `cookie` (the final ACK's acknowledgment number minus one) for a segment
   * with sequence number minus one `peerIsn`. True, with `last` filled in, when it was made for
   * this tuple within the last two minutes.
   */
  check(
    src: number,
    srcPort: number,
    dst: number,
    dstPort: number,
    peerIsn: number,
    cookie: number,
    nowMs: number,
  ): boolean {
    const ports = (srcPort << 16) | dstPort;
    const c = (cookie - hash3(this.#k1, src, dst, ports) - peerIsn) >>> 0;
    const now = Math.floor(nowMs / 60_000) & 0xff;
    const age = (now - (c >>> 24)) & 0xff;
    if (age >= COOKIE_MAX_AGE_MINUTES) return false;
    const minute = (now - age) & 0xff;
    const data = (c - hash4(this.#k2, src, dst, ports, minute)) & 0xffffff;
    if (data >= DATA_LIMIT) return false;
    const out = this.last;
    out.mss = COOKIE_MSS_TABLE[data & 3];
    const ws = (data >>> 2) & 15;
    out.windowScale = ws === NO_WSCALE ? -1 : ws > 14 ? 14 : ws;
    out.sackPermitted = (data & 64) !== 0;
    return true;
  }
}
