/**
 * Ephemeral port selection, RFC 6056 3.3.4 (Algorithm 4, "Double-Hash Port Selection", which
 * Linux also uses): the search for a free port starts at an offset that is a keyed hash of
 * (local address, remote address, remote port), advanced by a per-bucket counter from a small
 * table indexed by a second keyed hash. Ports toward different destinations are unpredictable
 * and independent; toward one destination they are used in turn, which keeps TIME_WAIT reuse
 * rare.
 *
 * @module
 */

import { hash3, type HashKey, randomHashKey } from "./hash.ts";

/** RFC 6056 3.3.4: TABLE_LENGTH (Linux uses 256 as well, more since 5.x). */
const TABLE_LENGTH = 256;

/** Chooses ephemeral ports in `[min, max]`. */
export class PortAllocator {
  /** Lowest ephemeral port. */
  readonly min: number;
  /** Highest ephemeral port. */
  readonly max: number;
  readonly #k1: HashKey;
  readonly #k2: HashKey;
  readonly #table = new Uint32Array(TABLE_LENGTH);

  /** Ports from `min` to `max` inclusive, keyed at random (or by the given keys, for tests). */
  constructor(min: number, max: number, k1: HashKey = randomHashKey(), k2 = randomHashKey()) {
    this.min = min;
    this.max = max;
    this.#k1 = k1;
    this.#k2 = k2;
  }

  /**
   * A port for a connection from `localAddr` to `remoteAddr:remotePort` for which `usable`
   * returns true, or -1 when every port in the range was tried.
   */
  pick(
    localAddr: number,
    remoteAddr: number,
    remotePort: number,
    usable: (port: number) => boolean,
  ): number {
    const num = this.max - this.min + 1;
    const offset = hash3(this.#k1, localAddr, remoteAddr, remotePort);
    const index = hash3(this.#k2, localAddr, remoteAddr, remotePort) % TABLE_LENGTH;
    for (let count = num; count > 0; count--) {
      const port = this.min + ((offset + this.#table[index]) % num);
      this.#table[index]++;
      if (usable(port)) return port;
    }
    return -1;
  }
}
