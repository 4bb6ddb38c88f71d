/**
 * Persistence templates (ipvsadm `-p SECONDS`, IPVS `ip_vs_sched_persist`): for one service, the
 * real server each client address was last sent to, kept for the timeout so the same client
 * goes to the same server. A bounded table: typed arrays, 8-way buckets, no allocation per
 * lookup. A full bucket replaces its entry closest to expiry (counted in `evicted`).
 *
 * Unlike IPVS, whose template lives while connections it controls exist and then for the
 * timeout, an entry here expires `timeout` after the last new flow it scheduled (a simpler rule
 * with the same effect for clients that keep opening connections).
 *
 * @module
 */

import type { Clock } from "../stack/clock.ts";
import type { RealServer } from "./service.ts";

/** Entries per service by default. */
export const DEFAULT_PERSISTENCE_CAPACITY = 16_384;
const WAYS = 8;

/** Client address -> real server, each with an expiry time. */
export class PersistenceTable {
  /** Timeout in milliseconds (ipvsadm `-p` seconds * 1000). */
  timeoutMs: number;
  /** Entries dropped to make room (a full bucket). */
  evicted = 0;
  readonly #clock: Clock;
  readonly #clients: Uint32Array;
  /** Expiry time in clock milliseconds; 0 = empty slot. */
  readonly #expires: Float64Array;
  readonly #reals: (RealServer | null)[];
  readonly #mask: number;

  /** A table for `capacity` clients (rounded up to a power of two, at least 8). */
  constructor(timeoutMs: number, clock: Clock, capacity = DEFAULT_PERSISTENCE_CAPACITY) {
    let cap = WAYS;
    while (cap < capacity) cap *= 2;
    this.timeoutMs = timeoutMs;
    this.#clock = clock;
    this.#clients = new Uint32Array(cap);
    this.#expires = new Float64Array(cap);
    this.#reals = new Array<RealServer | null>(cap).fill(null);
    this.#mask = cap - WAYS;
  }

  /** First slot of `client`'s bucket. */
  #bucket(client: number): number {
    let h = Math.imul(client ^ 0x27d4eb2d, 0x85ebca6b);
    h ^= h >>> 15;
    return h & this.#mask;
  }

  /** The server `client` is pinned to, or null (none, or expired). */
  lookup(client: number): RealServer | null {
    const b = this.#bucket(client);
    const now = this.#clock.now();
    for (let i = b; i < b + WAYS; i++) {
      if (this.#expires[i] > now && this.#clients[i] === client) return this.#reals[i];
    }
    return null;
  }

  /** Pins `client` to `real` for the timeout from now (a new entry or a refresh). */
  remember(client: number, real: RealServer): void {
    const b = this.#bucket(client);
    const now = this.#clock.now();
    let victim = b;
    for (let i = b; i < b + WAYS; i++) {
      if (this.#expires[i] > now && this.#clients[i] === client) {
        victim = i;
        break;
      }
      if (this.#expires[i] < this.#expires[victim]) victim = i;
    }
    if (this.#expires[victim] > now && this.#clients[victim] !== client) this.evicted++;
    this.#clients[victim] = client;
    this.#reals[victim] = real;
    this.#expires[victim] = now + this.timeoutMs;
  }

  /** Drops the entries that point at `real` (it was deleted); returns how many. */
  forget(real: RealServer): number {
    let n = 0;
    for (let i = 0; i < this.#reals.length; i++) {
      if (this.#reals[i] === real && this.#expires[i] !== 0) {
        this.#expires[i] = 0;
        this.#reals[i] = null;
        n++;
      }
    }
    return n;
  }

  /** Clears expired entries (from the stack's tick), so they hold no real server. */
  expire(): void {
    const now = this.#clock.now();
    for (let i = 0; i < this.#expires.length; i++) {
      if (this.#expires[i] !== 0 && this.#expires[i] <= now) {
        this.#expires[i] = 0;
        this.#reals[i] = null;
      }
    }
  }

  /** Live entries (control path). */
  get size(): number {
    const now = this.#clock.now();
    let n = 0;
    for (let i = 0; i < this.#expires.length; i++) if (this.#expires[i] > now) n++;
    return n;
  }
}
