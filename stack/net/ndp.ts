/**
 * The neighbor cache of IPv6 Neighbor Discovery (RFC 4861 7.3): per neighbor its link-layer
 * address and reachability state, INCOMPLETE (a solicitation is out, packets wait), REACHABLE
 * (confirmed within ReachableTime), STALE (known, unconfirmed), DELAY (used while STALE: wait for
 * upper-layer confirmation before probing) and PROBE (unicast solicitations). The transitions are
 * those of RFC 4861 Appendix C; the cache decides, the caller sends what it is told to (the
 * solicitations) through `send`. Bounded: at most `maxEntries` neighbors (the oldest STALE one
 * gives way), and `maxQueued` packets wait per INCOMPLETE entry (7.2.2: "at least one").
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { equalIpv6, formatIpv6 } from "../wire/address6.ts";

/** RFC 4861 10: protocol constants (ms where a time). */
export const MAX_MULTICAST_SOLICIT = 3;
export const MAX_UNICAST_SOLICIT = 3;
export const REACHABLE_TIME_MS = 30_000;
export const RETRANS_TIMER_MS = 1_000;
export const DELAY_FIRST_PROBE_TIME_MS = 5_000;

/** Neighbor states (RFC 4861 7.3.2). */
export type NeighborState = "INCOMPLETE" | "REACHABLE" | "STALE" | "DELAY" | "PROBE";

/** One neighbor. */
export interface Neighbor {
  /** The neighbor's IPv6 address (16 bytes). */
  readonly address: Uint8Array;
  /** Its link-layer address, null while INCOMPLETE. */
  mac: Uint8Array | null;
  /** Where it stands in RFC 4861 7.3.2's state machine. */
  state: NeighborState;
  /** When the current state's timer runs out, ms. */
  deadline: number;
  /** Solicitations sent in this state. */
  probes: number;
  /** The neighbor is a router (an NA's R flag). */
  router: boolean;
  /** Packets waiting for the address (INCOMPLETE only), oldest first. */
  queue: Uint8Array[];
}

/** What the cache asks the host to do. */
export interface NdpActions {
  /** Send a Neighbor Solicitation for `target`: multicast (resolution) or unicast to `mac`. */
  solicit(target: Uint8Array, mac: Uint8Array | null): void;
  /** The address resolved: send the packets that waited, to `mac`. */
  resolved(n: Neighbor, queued: Uint8Array[]): void;
  /** Resolution failed: the waiting packets are dropped (the caller may send unreachables). */
  failed(n: Neighbor, queued: Uint8Array[]): void;
}

const sameMac = (a: Uint8Array | null, b: Uint8Array) =>
  a !== null && a[0] === b[0] && a[1] === b[1] && a[2] === b[2] && a[3] === b[3] &&
  a[4] === b[4] && a[5] === b[5];

/** The neighbor cache. */
export class NeighborCache {
  /** Entries by address text, oldest first (age order for eviction and listings). */
  readonly #entries = new Map<string, Neighbor>();
  /**
   * The same entries by a 32-bit fold of the address: the per-packet lookup (`get`) finds an
   * entry without building a string (several addresses may share a fold: a short list).
   */
  readonly #byFold = new Map<number, Neighbor[]>();
  readonly #clock: Clock;
  readonly #act: NdpActions;
  readonly #maxEntries: number;
  readonly #maxQueued: number;

  /** A cache on `clock` that asks `actions` to send. */
  constructor(clock: Clock, actions: NdpActions, maxEntries = 1024, maxQueued = 3) {
    this.#clock = clock;
    this.#act = actions;
    this.#maxEntries = maxEntries;
    this.#maxQueued = maxQueued;
  }

  /** The entry for `addr`, or undefined. */
  get(addr: Uint8Array, off = 0): Neighbor | undefined {
    const list = this.#byFold.get(fold(addr, off));
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i++) {
      if (equalIpv6(list[i].address, 0, addr, off)) return list[i];
    }
    return undefined;
  }

  /** Every entry (for `lb.ts neigh`). */
  entries(): Neighbor[] {
    return [...this.#entries.values()];
  }

  /**
   * A packet for `addr` wants a link-layer address (RFC 4861 7.2.2, 7.3.3): the address to use
   * now, or null when the packet was queued (a solicitation goes out for a new entry). A STALE
   * entry is used and moves to DELAY. With `off`/`len` the queue keeps a copy of
   * `packet[off .. off+len)` (the caller reuses its buffer), else `packet` itself. The entry that
   * answered is {@link lastResolved}.
   */
  resolve(addr: Uint8Array, packet: Uint8Array, off?: number, len?: number): Uint8Array | null {
    return this.resolveAt(addr, 0, packet, off, len);
  }

  /** {@link resolve} for the address at `addr[addrOff ..+16)` (no view made per packet). */
  resolveAt(
    addr: Uint8Array,
    addrOff: number,
    packet: Uint8Array,
    off?: number,
    len?: number,
  ): Uint8Array | null {
    const now = this.#clock.now();
    const n = this.get(addr, addrOff);
    if (n === undefined) {
      const e = this.#add(
        addrOff === 0 ? addr : addr.subarray(addrOff, addrOff + 16),
        null,
        "INCOMPLETE",
        now + RETRANS_TIMER_MS,
      );
      e.probes = 1;
      e.queue.push(off === undefined ? packet : packet.slice(off, off + (len ?? 0)));
      this.#act.solicit(e.address, null);
      return null;
    }
    if (n.state === "INCOMPLETE") {
      if (n.queue.length >= this.#maxQueued) n.queue.shift(); // the oldest gives way
      n.queue.push(off === undefined ? packet : packet.slice(off, off + (len ?? 0)));
      return null;
    }
    if (n.state === "STALE") {
      n.state = "DELAY";
      n.deadline = now + DELAY_FIRST_PROBE_TIME_MS;
    }
    this.lastResolved = n;
    return n.mac;
  }

  /**
   * The entry {@link resolve} last answered with an address: a sender may remember it and skip
   * the lookup while its state is REACHABLE (an entry leaving the cache is set INCOMPLETE).
   */
  lastResolved: Neighbor | null = null;

  /**
   * A Neighbor Solicitation (or a Router Solicitation/Advertisement, or a Redirect) from `addr`
   * carried its link-layer address (RFC 4861 7.2.3): create the entry as STALE, or make it STALE
   * when the address changed; an INCOMPLETE entry resolves.
   */
  learn(addr: Uint8Array, off: number, mac: Uint8Array): void {
    const now = this.#clock.now();
    const n = this.get(addr, off);
    if (n === undefined) {
      this.#add(addr.slice(off, off + 16), mac.slice(0, 6), "STALE", 0);
      return;
    }
    if (n.state === "INCOMPLETE") {
      this.#complete(n, mac, "STALE", now);
    } else if (!sameMac(n.mac, mac)) {
      n.mac = mac.slice(0, 6);
      n.state = "STALE";
      n.deadline = 0;
    }
  }

  /**
   * A Neighbor Advertisement for `target` (RFC 4861 7.2.5): `mac` is its target link-layer
   * option (or null), `solicited`/`override`/`router` its flags.
   */
  advertised(
    target: Uint8Array,
    off: number,
    mac: Uint8Array | null,
    solicited: boolean,
    override: boolean,
    router: boolean,
  ): void {
    const now = this.#clock.now();
    const n = this.get(target, off);
    if (n === undefined) return; // unsolicited, no entry: nothing to update (7.2.5)
    n.router = router;
    if (n.state === "INCOMPLETE") {
      if (mac === null) return;
      this.#complete(n, mac, solicited ? "REACHABLE" : "STALE", now);
      return;
    }
    const changed = mac !== null && !sameMac(n.mac, mac);
    if (!override && changed) {
      // Not an override with a different address: only REACHABLE becomes STALE.
      if (n.state === "REACHABLE") {
        n.state = "STALE";
        n.deadline = 0;
      }
      return;
    }
    if (mac !== null) n.mac = mac.slice(0, 6);
    if (solicited) {
      n.state = "REACHABLE";
      n.deadline = now + REACHABLE_TIME_MS;
      n.probes = 0;
    } else if (changed) {
      n.state = "STALE";
      n.deadline = 0;
    }
  }

  /** Upper-layer confirmation of reachability (RFC 4861 7.3.1, e.g. a TCP ACK of new data). */
  confirm(addr: Uint8Array, off = 0): void {
    const n = this.get(addr, off);
    if (n === undefined || n.state === "INCOMPLETE") return;
    n.state = "REACHABLE";
    n.deadline = this.#clock.now() + REACHABLE_TIME_MS;
    n.probes = 0;
  }

  /** Runs the state timers (call about every RetransTimer / 10). */
  tick(): void {
    const now = this.#clock.now();
    for (const [key, n] of this.#entries) {
      if (n.deadline === 0 || now < n.deadline) continue;
      switch (n.state) {
        case "INCOMPLETE":
          if (n.probes >= MAX_MULTICAST_SOLICIT) {
            this.#remove(key, n);
            this.#act.failed(n, n.queue.splice(0));
          } else {
            n.probes++;
            n.deadline = now + RETRANS_TIMER_MS;
            this.#act.solicit(n.address, null);
          }
          break;
        case "REACHABLE":
          n.state = "STALE";
          n.deadline = 0;
          break;
        case "DELAY":
          n.state = "PROBE";
          n.probes = 1;
          n.deadline = now + RETRANS_TIMER_MS;
          this.#act.solicit(n.address, n.mac);
          break;
        case "PROBE":
          if (n.probes >= MAX_UNICAST_SOLICIT) {
            this.#remove(key, n);
          } else {
            n.probes++;
            n.deadline = now + RETRANS_TIMER_MS;
            this.#act.solicit(n.address, n.mac);
          }
          break;
      }
    }
  }

  #complete(n: Neighbor, mac: Uint8Array, state: NeighborState, now: number): void {
    n.mac = mac.slice(0, 6);
    n.state = state;
    n.deadline = state === "REACHABLE" ? now + REACHABLE_TIME_MS : 0;
    n.probes = 0;
    this.#act.resolved(n, n.queue.splice(0));
  }

  #add(
    addr: Uint8Array,
    mac: Uint8Array | null,
    state: NeighborState,
    deadline: number,
  ): Neighbor {
    if (this.#entries.size >= this.#maxEntries) this.#evict();
    const e: Neighbor = {
      address: addr.slice(0, 16),
      mac,
      state,
      deadline,
      probes: 0,
      router: false,
      queue: [],
    };
    this.#entries.set(formatIpv6(e.address), e);
    const f = fold(e.address, 0);
    const list = this.#byFold.get(f);
    if (list === undefined) this.#byFold.set(f, [e]);
    else list.push(e);
    return e;
  }

  /** Takes entry `n` (keyed `key`) out of both maps. */
  #remove(key: string, n: Neighbor): void {
    this.#entries.delete(key);
    const f = fold(n.address, 0);
    const list = this.#byFold.get(f);
    if (list === undefined) return;
    const i = list.indexOf(n);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#byFold.delete(f);
  }

  /** A full cache drops a STALE entry first, else the oldest. */
  #evict(): void {
    for (const [key, n] of this.#entries) {
      if (n.state === "STALE") {
        this.#remove(key, n);
        return;
      }
    }
    const first = this.#entries.entries().next();
    if (first.done) return;
    first.value[1].state = "INCOMPLETE"; // a sender's remembered entry (lastResolved) goes stale
    this.#remove(first.value[0], first.value[1]);
  }
}

/** A 32-bit fold of the address `a[off ..+16)` (a small integer key: no allocation). */
function fold(a: Uint8Array, off: number): number {
  let h = 0;
  for (let i = 0; i < 16; i += 4) {
    h = Math.imul(
      h ^ ((a[off + i] << 24) | (a[off + i + 1] << 16) | (a[off + i + 2] << 8) |
        a[off + i + 3]),
      0x9e3779b1,
    );
  }
  return h >> 1; // 31 bits: a small integer (Smi) on every platform
}
