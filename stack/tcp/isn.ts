/**
 * Initial sequence numbers (RFC 6528 3): ISN = M + F(localip, localport, remoteip, remoteport,
 * secretkey), where M is a timer ticking every 4 microseconds and F a keyed PRF (HalfSipHash
 * here), so successive connections on one 4-tuple get increasing ISNs (old duplicates stay out
 * of the new window, RFC 9293 3.4.1) while an off-path attacker cannot guess them. The same
 * keyed hash gives each connection a random timestamp offset (RFC 7323 5.4, 7.1).
 *
 * @module
 */

import { hash3, type HashKey, randomHashKey } from "./hash.ts";

/** ISNs and timestamp offsets for one stack, from secret keys chosen at creation. */
export class IsnGenerator {
  readonly #isnKey: HashKey;
  readonly #tsKey: HashKey;

  /** A generator with fresh random keys (or the given ones, for tests). */
  constructor(isnKey: HashKey = randomHashKey(), tsKey: HashKey = randomHashKey()) {
    this.#isnKey = isnKey;
    this.#tsKey = tsKey;
  }

  /**
   * The ISN for a connection at time `nowMs`: 250 ticks per millisecond (RFC 6528's 4 us
   * timer) plus the keyed hash of the 4-tuple.
   */
  isn(lAddr: number, lPort: number, rAddr: number, rPort: number, nowMs: number): number {
    const m = Math.floor(nowMs * 250) % 4294967296;
    return (m + hash3(this.#isnKey, lAddr, rAddr, (lPort << 16) | rPort)) >>> 0;
  }

  /** The per-connection offset added to TSval (RFC 7323 5.4: hides the host's clock). */
  tsOffset(localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
    return hash3(this.#tsKey, localAddr, remoteAddr, (localPort << 16) | remotePort);
  }
}
