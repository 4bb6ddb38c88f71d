/**
 * Source hashing (IPVS `ip_vs_sh.c`): a 256-bucket table maps the client address to a server, so
 * the same client always reaches the same server while the set is unchanged. The buckets are
 * dealt out in list order, each server taking as many consecutive buckets as its weight.
 *
 * Differences from the kernel, on purpose:
 * - the bucket is the high byte of address * 2654435761 (Knuth's multiplicative hashing); the
 *   kernel takes the low byte, which depends on the address's low byte only;
 * - weights are divided by their gcd first, so weights 100, 100 share the table as 1, 1 do
 *   (the kernel would give the first server 100 buckets, the second 100, the first 56 more);
 * - a bucket whose server is unavailable falls back to rehashing the address with an offset until
 *   an available server turns up (IPVS's `sh-fallback` flag, always on here; if 255 probes miss,
 *   the first available server), so clients of a failed server move while every other client
 *   stays put. Servers with weight 0 get no
 *   buckets.
 *
 * @module
 */

import type { RealServer } from "../service.ts";
import { gcd, type Scheduler, type SchedulerName } from "./scheduler.ts";
import { hash2 } from "./hash.ts";

/** Buckets in the source-hash table (IPVS `CONFIG_IP_VS_SH_TAB_BITS` = 8). */
export const SH_TABLE_SIZE = 256;

/** Seed of the fallback rehash; fixed so every instance falls back the same way. */
const FALLBACK_SEED = 0x5348_4642;

/** The bucket of a client address: high byte of the Knuth multiplicative hash. */
export function shBucket(address: number): number {
  return Math.imul(address, 0x9e3779b1) >>> 24;
}

/** Source-hashing scheduler. */
export class SourceHashScheduler implements Scheduler {
  /** "sh". */
  readonly name: SchedulerName = "sh";
  #reals: RealServer[] = [];
  /** Bucket -> index into #reals, -1 when no server has weight. */
  readonly #table = new Int32Array(SH_TABLE_SIZE).fill(-1);

  /** Deals the buckets out again (IPVS `ip_vs_sh_reassign`). */
  update(reals: readonly RealServer[]): void {
    this.#reals = reals.slice();
    const table = this.#table;
    table.fill(-1);
    let g = 0;
    for (const r of this.#reals) if (r.weight > 0) g = g > 0 ? gcd(r.weight, g) : r.weight;
    if (g === 0) return;
    const n = this.#reals.length;
    let p = 0;
    let count = 0;
    for (let b = 0; b < SH_TABLE_SIZE; b++) {
      while (this.#reals[p].weight === 0) p = (p + 1) % n; // a server with weight exists (g > 0)
      table[b] = p;
      if (++count >= this.#reals[p].weight / g) {
        p = (p + 1) % n;
        count = 0;
      }
    }
  }

  /** The client's server, or its fallback when that one is unavailable; null if none. */
  pick(clientIp: number, _clientPort: number): RealServer | null {
    const table = this.#table;
    const first = table[shBucket(clientIp)];
    if (first < 0) return null;
    const reals = this.#reals;
    const r = reals[first];
    if (r.available && r.weight > 0) return r;
    // ip_vs_sh_get_fallback: rehash with offsets 1..255 until an available server turns up.
    for (let offset = 1; offset < SH_TABLE_SIZE; offset++) {
      const alt = reals[table[hash2(clientIp, offset, FALLBACK_SEED) >>> 24]];
      if (alt.available && alt.weight > 0) return alt;
    }
    // A server with few buckets can escape 255 random probes: take the first one left.
    for (let i = 0; i < reals.length; i++) {
      if (reals[i].available && reals[i].weight > 0) return reals[i];
    }
    return null;
  }
}
