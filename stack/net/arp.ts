/**
 * The ARP cache (RFC 826) with the neighbour states Linux uses, reduced to three: `incomplete`
 * (a request is out, packets wait in a bounded queue), `reachable` (confirmed by a reply within
 * `reachableMs`), `stale` (still used; the first use sends a unicast request to revalidate it, as
 * Linux's DELAY/PROBE states do). Time moves only in {@link ArpCache.sweep}, which the stack calls
 * from its periodic tick: no timer per entry.
 *
 * The cache owns no socket: it asks its {@link ArpTransport} to send requests and to transmit
 * packets that were waiting for an address.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { type FrameClock, frameClockOf } from "./frame_clock.ts";
import { copyBytes } from "../wire/bytes.ts";
import type { Counters } from "./counters.ts";

/** Headroom kept before a queued IP packet, so the Ethernet header can be written in place. */
export const ARP_QUEUE_HEADROOM = 14;

/** The state of a cache entry, as `lb.ts arp` shows it. */
export type ArpState = "incomplete" | "reachable" | "stale";

/** Tunables; the defaults follow Linux's neighbour table (`ip ntable show dev eth0`). */
export interface ArpOptions {
  /** How long a reply keeps an entry reachable (Linux base_reachable_time 30 s). */
  reachableMs?: number;
  /** A stale entry unused this long is removed (Linux gc_stale_time 60 s). */
  gcMs?: number;
  /** Interval between requests for one address (Linux retrans_time 1 s). */
  retryMs?: number;
  /** Requests sent before giving up (Linux mcast_solicit / ucast_solicit 3). */
  maxRequests?: number;
  /**
   * Packets queued per unresolved address, default 64 (Linux: unres_qlen_bytes 212992, about 100
   * full-size packets or more small ones; we count packets). A balancer's first burst of SYNs to a
   * real server whose MAC is not yet known waits here.
   */
  queuePerEntry?: number;
  /** Packets queued over all unresolved addresses, default 1024. */
  queueTotal?: number;
  /** Largest number of entries (Linux gc_thresh3 1024). */
  maxEntries?: number;
}

/** One row of {@link ArpCache.entries} (plain data, JSON-able apart from the MAC bytes). */
export interface ArpEntryInfo {
  /** The IPv4 address. */
  ip: number;
  /** Its hardware address, null while incomplete. */
  mac: Uint8Array | null;
  /** Neighbour state. */
  state: ArpState;
  /** Milliseconds since the entry was created or last confirmed. */
  ageMs: number;
  /** A static entry (never expires, never overwritten by ARP traffic). */
  permanent: boolean;
  /** Packets waiting for this address. */
  queued: number;
}

/** What the cache needs from the stack. */
export interface ArpTransport {
  /**
   * Sends a request for `targetIp`: broadcast when `dstMac` is null, unicast to `dstMac` when an
   * existing (stale) entry is being revalidated.
   */
  sendArpRequest(targetIp: number, dstMac: Uint8Array | null): void;
  /**
   * Transmits a packet that waited for resolution: `buf[ipOff .. ipOff+ipLen)` is the IPv4
   * packet with {@link ARP_QUEUE_HEADROOM} bytes of headroom; `mac` is the next hop's address.
   */
  sendQueued(buf: Uint8Array, ipOff: number, ipLen: number, mac: Uint8Array): void;
  /**
   * Resolution of `ip` failed: each packet that waited for it (`buf[ipOff ..)`, before they are
   * dropped), so their senders hear of it, as Linux reports a failed neighbour to the sockets
   * whose packets were queued (EHOSTUNREACH).
   */
  unresolved?(ip: number, buf: Uint8Array, ipOff: number): void;
}

/** The result of {@link ArpCache.resolve} when no MAC can be returned yet. */
export type ArpPending = "queued" | "dropped";

interface Entry {
  ip: number;
  mac: Uint8Array;
  hasMac: boolean;
  state: ArpState;
  permanent: boolean;
  /** When the entry was created or last confirmed by a reply. */
  confirmedAt: number;
  /** When a packet last used the entry. */
  usedAt: number;
  /** Requests (incomplete) or revalidation probes (stale) sent in the current round; 0 = none. */
  requests: number;
  /** When the next request is due (or, after the last one, when the round fails). */
  nextRequestAt: number;
  /** Copies of packets waiting for resolution, each with ARP_QUEUE_HEADROOM bytes of headroom. */
  queue: Uint8Array[];
}

/** The ARP cache: states, timeouts, retries and the queue of packets awaiting resolution. */
export class ArpCache {
  readonly #transport: ArpTransport;
  /** Read in the allocation-free form on the packet path (frame_clock.ts). */
  readonly #clock: FrameClock;
  readonly #counters: Counters;
  /**
   * Keyed by the address as a signed 32-bit integer (`ip | 0`): V8 keeps int32 numbers unboxed
   * (Smis), while u32 addresses from 128.0.0.0 up would be heap numbers, allocated per lookup.
   */
  readonly #entries = new Map<number, Entry>();
  readonly #reachableMs: number;
  readonly #gcMs: number;
  readonly #retryMs: number;
  readonly #maxRequests: number;
  readonly #queuePerEntry: number;
  readonly #queueTotal: number;
  readonly #maxEntries: number;
  #queued = 0;

  /** Builds an empty cache. */
  constructor(transport: ArpTransport, clock: Clock, counters: Counters, options: ArpOptions = {}) {
    this.#transport = transport;
    this.#clock = frameClockOf(clock);
    this.#counters = counters;
    this.#reachableMs = options.reachableMs ?? 30_000;
    this.#gcMs = options.gcMs ?? 60_000;
    this.#retryMs = options.retryMs ?? 1_000;
    this.#maxRequests = options.maxRequests ?? 3;
    this.#queuePerEntry = options.queuePerEntry ?? 64;
    this.#queueTotal = options.queueTotal ?? 1024;
    this.#maxEntries = options.maxEntries ?? 1024;
  }

  /** Number of entries in every state. */
  get size(): number {
    return this.#entries.size;
  }

  /** Packets waiting for resolution over all entries. */
  get queuedPackets(): number {
    return this.#queued;
  }

  /**
   * The MAC for `ip` when it is known (reachable or stale), else null. Marks the entry used; a
   * stale entry is revalidated with a unicast request (the MAC is still returned meanwhile).
   * The returned array belongs to the cache: copy it to keep it.
   */
  lookup(ip: number): Uint8Array | null {
    const e = this.#entries.get(ip | 0);
    if (e === undefined || !e.hasMac) return null;
    this.#use(e);
    return e.mac;
  }

  /**
   * Like {@link lookup}, but when the MAC is unknown, copies the packet `buf[ipOff .. ipOff+ipLen)`
   * into the entry's queue (starting a resolution if none is running) and returns "queued", or
   * "dropped" (counted) when a queue bound or the table size forbids it.
   */
  resolve(ip: number, buf: Uint8Array, ipOff: number, ipLen: number): Uint8Array | ArpPending {
    const known = this.#entries.get(ip | 0);
    if (known !== undefined && known.hasMac) {
      this.#use(known);
      return known.mac;
    }
    const e = known ?? this.#startResolving(ip);
    if (e === null) return "dropped";
    if (this.#queued >= this.#queueTotal) {
      this.#counters.count("drop.arp_queue_full");
      return "dropped";
    }
    if (e.queue.length >= this.#queuePerEntry) {
      // RFC 1122 2.3.2.2: SHOULD keep the latest packet; Linux drops from the head too.
      e.queue.shift();
      this.#queued--;
      this.#counters.count("drop.arp_queue_full");
    }
    const copy = new Uint8Array(ARP_QUEUE_HEADROOM + ipLen);
    copyBytes(buf, ipOff, copy, ARP_QUEUE_HEADROOM, ipLen);
    e.queue.push(copy);
    this.#queued++;
    this.#counters.count("arp.queued");
    return "queued";
  }

  /**
   * Starts resolving `ip` unless it is known or being resolved, without a packet to queue: the
   * balancer asks for its real servers' (or their gateway's) addresses when they are configured,
   * so a burst of first SYNs finds the MAC instead of overflowing the queue.
   */
  solicit(ip: number): void {
    if (!this.#entries.has(ip | 0)) this.#startResolving(ip);
  }

  /** A new incomplete entry for `ip` with its first request sent; null (counted) when full. */
  #startResolving(ip: number): Entry | null {
    if (this.#entries.size >= this.#maxEntries && !this.#evictOne()) {
      this.#counters.count("drop.arp_table_full");
      return null;
    }
    const now = this.#clock.now();
    const e = this.#newEntry(ip, "incomplete", now);
    e.requests = 1;
    e.nextRequestAt = now + this.#retryMs;
    this.#entries.set(ip | 0, e);
    this.#counters.count("arp.tx_requests");
    this.#transport.sendArpRequest(ip, null);
    return e;
  }

  /**
   * Merges what an ARP packet says about its sender (RFC 826, "Packet Reception"): an existing
   * entry is updated from any packet; a new entry is created only when `targetsUs` (the packet's
   * target address is one of ours). A reply confirms reachability; a request only proves the
   * sender exists, so it leaves a new or changed entry `stale` (Linux does the same). Packets
   * that waited for the address are sent at once. Sender 0.0.0.0 (an RFC 5227 probe) teaches
   * nothing; static entries are never overwritten.
   */
  update(
    ip: number,
    macBuf: Uint8Array,
    macOff: number,
    isReply: boolean,
    targetsUs: boolean,
  ): void {
    if (ip === 0) return;
    let e = this.#entries.get(ip | 0);
    const now = this.#clock.now();
    if (e === undefined) {
      if (!targetsUs) return;
      if (this.#entries.size >= this.#maxEntries && !this.#evictOne()) {
        this.#counters.count("arp.table_full");
        return;
      }
      e = this.#newEntry(ip, isReply ? "reachable" : "stale", now);
      this.#entries.set(ip | 0, e);
      copyBytes(macBuf, macOff, e.mac, 0, 6);
      e.hasMac = true;
      this.#counters.count("arp.learned");
      return;
    }
    if (e.permanent) return;
    const changed = !e.hasMac || !sameMac(e.mac, macBuf, macOff);
    if (changed) {
      copyBytes(macBuf, macOff, e.mac, 0, 6);
      e.hasMac = true;
      this.#counters.count("arp.updated");
    }
    if (isReply) {
      e.state = "reachable";
      e.confirmedAt = now;
      e.requests = 0;
    } else if (changed) {
      e.state = "stale";
      e.confirmedAt = now;
      e.requests = 0;
    }
    if (e.queue.length > 0) this.#flush(e);
  }

  /** Adds a static entry (`arp -s`): always reachable, never expires. Drops its queue onward. */
  addStatic(ip: number, mac: Uint8Array): void {
    let e = this.#entries.get(ip | 0);
    const now = this.#clock.now();
    if (e === undefined) {
      e = this.#newEntry(ip, "reachable", now);
      this.#entries.set(ip | 0, e);
    }
    copyBytes(mac, 0, e.mac, 0, 6);
    e.hasMac = true;
    e.permanent = true;
    e.state = "reachable";
    e.confirmedAt = now;
    e.requests = 0;
    if (e.queue.length > 0) this.#flush(e);
  }

  /** Removes the entry for `ip` (its queued packets are dropped and counted). True if it existed. */
  remove(ip: number): boolean {
    const e = this.#entries.get(ip | 0);
    if (e === undefined) return false;
    this.#dropQueue(e, "drop.arp_unresolved");
    this.#entries.delete(ip | 0);
    return true;
  }

  /**
   * Advances every entry to the clock's now: resends requests that are due, fails resolutions that
   * ran out of requests (queued packets counted as "drop.arp_unresolved"), turns reachable entries
   * stale after `reachableMs`, removes stale entries unused for `gcMs` and entries whose
   * revalidation went unanswered. Called from the stack's periodic tick.
   */
  sweep(): void {
    const now = this.#clock.now();
    for (const e of this.#entries.values()) {
      if (e.permanent) continue;
      if (e.state === "incomplete") {
        if (now < e.nextRequestAt) continue;
        if (e.requests < this.#maxRequests) {
          e.requests++;
          e.nextRequestAt += this.#retryMs;
          this.#counters.count("arp.tx_requests");
          this.#transport.sendArpRequest(e.ip, null);
        } else {
          this.#counters.count("arp.failed");
          const failed = this.#transport.unresolved;
          if (failed !== undefined) {
            for (const p of e.queue) failed.call(this.#transport, e.ip, p, ARP_QUEUE_HEADROOM);
          }
          this.#dropQueue(e, "drop.arp_unresolved");
          this.#entries.delete(e.ip | 0);
        }
        continue;
      }
      if (e.state === "reachable" && now - e.confirmedAt >= this.#reachableMs) {
        e.state = "stale";
      }
      if (e.state !== "stale") continue;
      if (e.requests > 0) {
        // Revalidation in progress (Linux PROBE): resend, or give up and forget the entry so the
        // next packet starts a fresh broadcast resolution.
        if (now < e.nextRequestAt) continue;
        if (e.requests < this.#maxRequests) {
          e.requests++;
          e.nextRequestAt += this.#retryMs;
          this.#counters.count("arp.tx_probes");
          this.#transport.sendArpRequest(e.ip, e.mac);
        } else {
          this.#counters.count("arp.revalidation_failed");
          this.#entries.delete(e.ip | 0);
        }
      } else if (now - e.usedAt >= this.#gcMs) {
        this.#counters.count("arp.gc");
        this.#entries.delete(e.ip | 0);
      }
    }
  }

  /** The entries for `lb.ts arp`, sorted by address (fresh copies). */
  entries(): ArpEntryInfo[] {
    const now = this.#clock.now();
    return [...this.#entries.values()]
      .sort((a, b) => a.ip - b.ip)
      .map((e) => ({
        ip: e.ip,
        mac: e.hasMac ? e.mac.slice() : null,
        state: e.state,
        ageMs: now - e.confirmedAt,
        permanent: e.permanent,
        queued: e.queue.length,
      }));
  }

  /**
   * Makes room in a full table, as Linux's neigh_forced_gc does: removes the least recently used
   * entry that is not permanent and holds no queued packet. Without this, a flood of spoofed
   * requests would fill the table and refuse every new next hop until the entries aged out.
   */
  #evictOne(): boolean {
    let victim: Entry | null = null;
    for (const e of this.#entries.values()) {
      if (e.permanent || e.queue.length > 0) continue;
      if (victim === null || e.usedAt < victim.usedAt) victim = e;
    }
    if (victim === null) return false;
    this.#entries.delete(victim.ip | 0);
    this.#counters.count("arp.evicted");
    return true;
  }

  #newEntry(ip: number, state: ArpState, now: number): Entry {
    return {
      ip,
      mac: new Uint8Array(6),
      hasMac: false,
      state,
      permanent: false,
      confirmedAt: now,
      usedAt: now,
      requests: 0,
      nextRequestAt: 0,
      queue: [],
    };
  }

  #use(e: Entry): void {
    const clock = this.#clock;
    if (!clock.fresh) clock.read();
    const now = clock.time[0];
    e.usedAt = now;
    if (e.state === "stale" && e.requests === 0 && !e.permanent) {
      e.requests = 1;
      e.nextRequestAt = now + this.#retryMs;
      this.#counters.count("arp.tx_probes");
      this.#transport.sendArpRequest(e.ip, e.mac);
    }
  }

  #flush(e: Entry): void {
    const queue = e.queue;
    e.queue = [];
    this.#queued -= queue.length;
    for (let i = 0; i < queue.length; i++) {
      const p = queue[i];
      this.#counters.count("arp.dequeued");
      this.#transport.sendQueued(p, ARP_QUEUE_HEADROOM, p.length - ARP_QUEUE_HEADROOM, e.mac);
    }
  }

  #dropQueue(e: Entry, reason: string): void {
    if (e.queue.length === 0) return;
    this.#counters.count(reason, e.queue.length);
    this.#queued -= e.queue.length;
    e.queue = [];
  }
}

function sameMac(a: Uint8Array, b: Uint8Array, bOff: number): boolean {
  return a[0] === b[bOff] && a[1] === b[bOff + 1] && a[2] === b[bOff + 2] &&
    a[3] === b[bOff + 3] && a[4] === b[bOff + 4] && a[5] === b[bOff + 5];
}
