/**
 * The path MTU cache (RFC 1191 section 5): what "fragmentation needed" taught about each
 * destination, so a new connection to it starts with a segment size that fits, and the lesson
 * expires so a path that grew again is used (RFC 1191 6.3: "the PMTU estimate ... should be
 * increased" after a while; Linux `ip_rt_mtu_expires` = 10 minutes).
 *
 * Bounded (RFC 5927: an attacker must not be able to grow it): at most `capacity` destinations;
 * a full cache replaces its oldest entry. A learned MTU below `minMtu` is raised to it, so a
 * forged error cannot make segments tiny (Linux `min_pmtu` = 552).
 *
 * @module
 */

import type { Clock } from "../clock.ts";

/** What {@link PmtuCache}'s constructor takes. */
export interface PmtuOptions {
  /** Lifetime of a learned value (ms; default 600,000, Linux's 10 minutes). */
  expiresMs?: number;
  /** Smallest MTU taken from an error (default 552, Linux's min_pmtu). */
  minMtu?: number;
  /** Destinations remembered at most (default 1024). */
  capacity?: number;
}

/**
 * Learned path MTUs by destination address: an IPv4 address as a u32, or (IPv6, RFC 8201) any
 * string naming the address.
 */
export class PmtuCache<K extends number | string = number> {
  readonly #clock: Clock;
  readonly #expiresMs: number;
  readonly #minMtu: number;
  readonly #capacity: number;
  /** Keyed by `address | 0` (an int32 key: no boxing) or the string; insertion order is age. */
  readonly #entries = new Map<number | string, { mtu: number; expiresAt: number }>();

  /** A cache on `clock`. */
  constructor(clock: Clock, options: PmtuOptions = {}) {
    this.#clock = clock;
    this.#expiresMs = options.expiresMs ?? 600_000;
    this.#minMtu = options.minMtu ?? 552;
    this.#capacity = options.capacity ?? 1024;
  }

  /** Smallest MTU an error can set. */
  get minMtu(): number {
    return this.#minMtu;
  }

  /** Destinations remembered now (expired ones not yet dropped included). */
  get size(): number {
    return this.#entries.size;
  }

  /** The learned MTU toward `dst`, or 0 when none is known (or it expired). */
  get(dst: K): number {
    const key = keyOf(dst);
    const e = this.#entries.get(key);
    if (e === undefined) return 0;
    if (e.expiresAt <= this.#clock.now()) {
      this.#entries.delete(key);
      return 0;
    }
    return e.mtu;
  }

  /**
   * Learns that `mtu` bytes is the most that passes toward `dst` (raised to the minimum). Only a
   * smaller value replaces a live one; returns the MTU now in force.
   */
  learn(dst: K, mtu: number): number {
    const key = keyOf(dst);
    const now = this.#clock.now();
    const v = mtu < this.#minMtu ? this.#minMtu : mtu;
    const e = this.#entries.get(key);
    if (e !== undefined && e.expiresAt > now && e.mtu <= v) return e.mtu;
    this.#entries.delete(key);
    if (this.#entries.size >= this.#capacity) {
      const oldest = this.#entries.keys().next().value as number | string;
      this.#entries.delete(oldest);
    }
    this.#entries.set(key, { mtu: v, expiresAt: now + this.#expiresMs });
    return v;
  }

  /** Every live entry, for listings (allocates). */
  entries(): { address: K; mtu: number; expiresInMs: number }[] {
    const now = this.#clock.now();
    const out = [];
    for (const [k, e] of this.#entries) {
      if (e.expiresAt > now) {
        const address = (typeof k === "number" ? k >>> 0 : k) as K;
        out.push({ address, mtu: e.mtu, expiresInMs: e.expiresAt - now });
      }
    }
    return out;
  }
}

/** The map key of an address: a u32 as an int32 (a small integer: no boxing), a string as is. */
function keyOf(dst: number | string): number | string {
  return typeof dst === "number" ? dst | 0 : dst;
}
