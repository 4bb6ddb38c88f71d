/**
 * Maglev hashing (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
 * NSDI 2016, section 3.4; IPVS `ip_vs_mh.c`): a lookup table of prime size M (65537 here, as in
 * the paper) is filled so that each server owns about M/N entries, and a flow's hash indexes it.
 * When one of N servers goes, only about 1/N of the keys move.
 *
 * Each server has a permutation of the table positions, (offset + j * skip) mod M, with offset
 * and skip from two hashes of its address and port. {@link populate} is the paper's Pseudocode 1,
 * with IPVS's weighting: in each round a server claims `turns` positions instead of one, where
 * turns = weight / gcd(weights), shifted right so the largest fits in half the table's bits.
 *
 * Hashes use fixed seeds and the servers are taken in (address, port) order, so the table depends
 * only on the set of servers and their weights: every instance, and every restart, sends the same
 * (address, port) to the same server. The balancer relies on that to forward packets of flows it
 * has no entry for (after a restart) to the server that already holds them.
 *
 * By default the flow key is the client address and port (IPVS `-b sh-port`): one client opening
 * many connections spreads over the servers. `{ port: false }` hashes the address only, so each
 * client sticks to one server. Servers with weight 0 or unavailable get no table entries.
 *
 * @module
 */

import type { RealServer } from "../service.ts";
import {
  effectiveWeight,
  gcd,
  type Scheduler,
  type SchedulerName,
  type SchedulerOptions,
} from "./scheduler.ts";
import { hash2 } from "./hash.ts";

/** Default lookup table size: the prime the Maglev paper uses. */
export const MH_DEFAULT_TABLE_SIZE = 65537;

/** Seeds of the three fixed hashes (offset, skip, flow key); changing them remaps every flow. */
const OFFSET_SEED = 0x4d41_474c; // "MAGL"
const SKIP_SEED = 0x4556_534b; // "EVSK"
const KEY_SEED = 0x464c_4f57; // "FLOW"

/** True when `n` is a prime (trial division; n is a table size, at most a few million). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}

/**
 * Fills `out[0..tableSize)` with backend indices: the Maglev paper's Pseudocode 1 (POPULATE),
 * where backend i's permutation is (offsets[i] + j * skips[i]) mod tableSize, extended as IPVS's
 * `ip_vs_mh_populate` is: backend i claims `turns[i]` positions per round (0 = none). Positions
 * stay -1 only when every backend has 0 turns. `tableSize` must be prime and each skip in
 * 1..tableSize-1, so every permutation visits every position.
 */
export function populate(
  tableSize: number,
  offsets: ArrayLike<number>,
  skips: ArrayLike<number>,
  turns: ArrayLike<number>,
  out: Int32Array,
): void {
  const n = offsets.length;
  out.fill(-1, 0, tableSize);
  let any = false;
  for (let i = 0; i < n; i++) if (turns[i] > 0) any = true;
  if (!any) return;
  const next = new Float64Array(n); // next candidate position of each permutation
  for (let i = 0; i < n; i++) next[i] = offsets[i];
  let filled = 0;
  for (;;) {
    for (let i = 0; i < n; i++) {
      for (let t = 0; t < turns[i]; t++) {
        let c = next[i];
        while (out[c] >= 0) {
          c += skips[i];
          if (c >= tableSize) c -= tableSize;
        }
        out[c] = i;
        c += skips[i];
        if (c >= tableSize) c -= tableSize;
        next[i] = c;
        if (++filled === tableSize) return;
      }
    }
  }
}

/** Maglev-hashing scheduler. */
export class MaglevScheduler implements Scheduler {
  /** "mh". */
  readonly name: SchedulerName = "mh";
  /** Lookup table size M (prime). */
  readonly tableSize: number;
  /** Whether the client port is part of the flow key. */
  readonly usePort: boolean;
  /** Servers in the table, sorted by (address, port). */
  #backends: RealServer[] = [];
  /** Position -> index into #backends, -1 when no server takes new flows. */
  readonly #table: Int32Array;

  /** Throws a RangeError when `tableSize` is not a prime. */
  constructor(options: SchedulerOptions = {}) {
    const m = options.tableSize ?? MH_DEFAULT_TABLE_SIZE;
    if (!isPrime(m)) throw new RangeError(`mh table size ${m} is not a prime`);
    this.tableSize = m;
    this.usePort = options.port ?? true;
    this.#table = new Int32Array(m).fill(-1);
  }

  /** Rebuilds the lookup table from the servers that take new flows. */
  update(reals: readonly RealServer[]): void {
    const m = this.tableSize;
    const backends = reals.filter((r) => effectiveWeight(r) > 0);
    backends.sort((a, b) => a.key - b.key || a.address - b.address || a.port - b.port);
    this.#backends = backends;
    const n = backends.length;
    let g = 0;
    let max = 0;
    for (const r of backends) {
      g = g > 0 ? gcd(r.weight, g) : r.weight;
      if (r.weight > max) max = r.weight;
    }
    // ip_vs_mh_shift_weight: keep the largest turns within half the table's index bits, so one
    // heavy server cannot claim the whole table in its first round.
    const tabBits = Math.floor(Math.log2(m) / 2);
    const shift = n > 0 ? Math.max(0, 32 - Math.clz32(max / g) - tabBits) : 0;
    const offsets = new Uint32Array(n);
    const skips = new Uint32Array(n);
    const turns = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      const r = backends[i];
      offsets[i] = hash2(r.key, r.port, OFFSET_SEED) % m;
      skips[i] = (hash2(r.key, r.port, SKIP_SEED) % (m - 1)) + 1;
      turns[i] = Math.max(1, (r.weight / g) >>> shift);
    }
    populate(m, offsets, skips, turns, this.#table);
  }

  /** The table position of a flow key (deterministic across instances). */
  position(clientIp: number, clientPort: number): number {
    return hash2(clientIp, this.usePort ? clientPort : 0, KEY_SEED) % this.tableSize;
  }

  /** The server owning the flow's table position, or null when none takes new flows. */
  pick(clientIp: number, clientPort: number): RealServer | null {
    const i = this.#table[this.position(clientIp, clientPort)];
    if (i < 0) return null;
    const r = this.#backends[i];
    // A server turned unavailable without update() is still refused (IPVS is_unavailable()).
    return r.available && r.weight > 0 ? r : null;
  }
}
