/**
 * The connection table (IPVS `ip_vs_conn`): one entry per flow, mapping the client's
 * (protocol, address, port) to the VIP:port it reached and the real server that serves it, with
 * the flow's TCP state and expiry time.
 *
 * Layout: one 32-byte row per slot in a typed array (addresses, ports, state and flags packed
 * into u32 words, the deadline a float64), plus chain links, bucket heads and embryonic-list
 * links: about 56 bytes per flow and no JS object per flow (see {@link ConnTable.bytesPerFlow}).
 * A lookup that hits reads the bucket head and one row. Two chained hash indexes share the slots:
 * - "in": (protocol, client ip, client port, vip, vport), for client -> VIP packets;
 * - "out": (protocol, real ip, real port, client ip, client port), for a NAT real server's
 *   replies (IPVS `ip_vs_conn_out_get`). Every entry is in both.
 * Free slots form a list, so insert and remove are O(1); lookups allocate nothing.
 *
 * IPv6 flows share the slots and the 32-byte row (an IPv4 entry does not grow): the row of an
 * IPv6 flow (meta bit M_V6) holds 30-bit folds of the client's, VIP's and real server's addresses
 * (MurmurHash3 with the table's random seed, lb/address.ts `fold128`) where IPv4 keeps the
 * addresses, so hashing, unlinking and growth work on the row alone; a side array of 8 words a
 * slot, allocated at the first IPv6 flow (+32 bytes a slot), keeps the client's and VIP's 128 bits,
 * and every IPv6 hit compares them (and the real server's, from its object) in full, so two
 * addresses with the same fold never share an entry.
 *
 * Bounded: at most `capacity` entries, and a full table still takes new flows while it holds
 * embryonic ones. An entry is embryonic while its flow has not shown that a real client is behind
 * it: a TCP flow in NONE, SYN_RECV, SYN_SENT or SYNACK (no completed handshake seen), and any flow
 * (TCP or UDP) that has had only its first packet. Embryonic entries are kept on an intrusive FIFO
 * list (two Int32Arrays, O(1) link and unlink, no allocation); when an insert finds no free slot
 * it evicts the oldest embryonic entry (`counters.evicted`), and only when there is none is the
 * new flow refused (`counters.refused`). So a spoofed SYN or ACK flood, which can only make
 * embryonic entries, never locks legitimate clients out, and an established flow is never evicted
 * while an embryonic one exists (Katran's LRU evicts whatever is oldest; IPVS drops entries at
 * random under memory pressure, `ip_vs_random_dropentry`, preferring SYN_RECV ones).
 *
 * The bound changes live ({@link ConnTable.setCapacity}, `lb.ts set --max-conns N`). Growing
 * allocates larger arrays and copies the rows over, keeping every slot number (slots are entry
 * handles), then rebuilds the hash chains; shrinking only lowers the bound: the flows already
 * there stay, however many they are, and a new flow gets a slot only while the table holds fewer
 * than the bound (else it evicts an embryonic entry or is refused, `counters.refused`, as in a
 * full table). A refused TCP client retransmits its SYN, so it waits for room rather than
 * failing at once. The arrays keep their largest size until the process restarts.
 *
 * Embryonic entries also expire sooner: one made without the client's SYN (a non-SYN packet of
 * an unknown flow, which a flood of random ACKs makes) lives `embryonicTimeoutMs` until a second
 * packet proves it; and while the table is under pressure (at least `pressureFraction` of it in
 * use) every embryonic entry's deadline is cut to `embryonicTimeoutMs`, so the table drains
 * quickly once a flood stops.
 *
 * Expiry has no timer per entry. Each entry holds an absolute deadline; a lookup that finds an
 * entry past its deadline removes it and reports a miss, and `expire()`, called from the owner's
 * periodic tick, sweeps a bounded number of slots per call to free the ones nobody looks up.
 * Until one of the two frees it, an expired entry keeps its slot.
 *
 * Per real server, `activeConns`/`inactiveConns` follow every state change and removal the way
 * IPVS keeps them (flag `IP_VS_CONN_F_INACTIVE`): a new flow starts inactive; ESTABLISHED counts
 * as active (option `countHandshakeAsActive` adds SYN_SENT, SYN_RECV and SYNACK, as mainline
 * Linux does); UDP flows are inactive.
 *
 * @module
 */

import { type Clock, systemClock } from "../../stack/clock.ts";
import { type FrameClock, frameClockOf } from "../../stack/net/frame_clock.ts";
import type { ForwardMethod, Protocol, RealServer } from "../service.ts";
import { murmurFinish, murmurRound } from "../scheduler/hash.ts";
import { equal16, fold128 } from "../address.ts";
import type { ConnInfo } from "./conn_info.ts";
import { RealRegistry } from "./real_registry.ts";
import {
  ACTIVE_ESTABLISHED_ONLY,
  ACTIVE_WITH_HANDSHAKE,
  ConnState,
  type ConnStateName,
  DEFAULT_TIMEOUTS_MS,
  Direction,
  nextTcpState,
  STATE_COUNT,
  STATE_NAMES,
  TABLE_INPUT_ONLY,
} from "./tcp_states.ts";

/** IP protocol number of TCP (IANA), as the packet path reads it from the IPv4 header. */
export const PROTO_TCP = 6;
/** IP protocol number of UDP (IANA). */
export const PROTO_UDP = 17;

/** The IP protocol number of a service protocol. */
export function protocolNumber(protocol: Protocol): number {
  return protocol === "udp" ? PROTO_UDP : PROTO_TCP;
}

/**
 * Slot layout: one 32-byte row of eight u32 words per slot, so a lookup that finds its flow reads
 * one row (one cache line) after the bucket head; the deadline is a float64 over words 6-7.
 */
const ROW_WORDS = 8;
const W_CIP = 0;
const W_VIP = 1;
/** clientPort << 16 | vport. */
const W_PORTS = 2;
/**
 * rport (bits 0-15), state (16-19), flag bits (20-29): see M_*. 0 = free slot. Bits 30-31 stay
 * clear, so a meta word is always a small integer (a V8 Smi) and never a heap number.
 */
const W_META = 3;
const W_RIP = 4;
const W_REAL = 5;
/** Index of the deadline in the Float64Array view: words 6-7 of the row. */
const F_EXPIRES = 3;

const M_STATE_SHIFT = 16;
/** The state field's mask (after the shift): 4 bits hold the 12 states. */
const M_STATE_MASK = 0x0f;
/** The flow has had only its first packet: unproven, embryonic. */
const M_UNPROVEN = 1 << 20;
/** Set at insert, cleared by the first `track` (the packet that created the entry). */
const M_FRESH = 1 << 21;
/** The slot holds a flow. */
const M_USED = 1 << 24;
/** The flow is UDP (else TCP). */
const M_UDP = 1 << 25;
/** The flow is IPv6: the row holds folds of the addresses, the side array their 128 bits. */
const M_V6 = 1 << 22;
/** The bits that a lookup's key must match: used, protocol, family. */
const M_KEY = M_USED | M_UDP | M_V6;
/** Words per slot in the IPv6 side array: the client's address, then the VIP's. */
const SIX_WORDS = 8;
/** Forwarding method, index into METHODS. */
const M_METHOD_SHIFT = 26;
/** IPVS `IP_VS_CONN_F_NOOUTPUT`: DR/TUN flow, replies bypass us; use the INPUT-ONLY table. */
const M_NOOUTPUT = 1 << 28;
/** IPVS `IP_VS_CONN_F_INACTIVE`: the flow counts in the server's inactiveConns. */
const M_INACTIVE = 1 << 29;

/** 1 for the TCP states of a flow whose handshake has not been seen to complete. */
const EMBRYONIC_STATE = new Uint8Array(16);
EMBRYONIC_STATE[ConnState.NONE] = 1;
EMBRYONIC_STATE[ConnState.SYN_RECV] = 1;
EMBRYONIC_STATE[ConnState.SYN_SENT] = 1;
EMBRYONIC_STATE[ConnState.SYNACK] = 1;

/** True when an entry with this meta word is embryonic (see the module comment). */
function embryonic(meta: number): boolean {
  // UDP's one state is not in EMBRYONIC_STATE: a UDP flow is embryonic only while unproven.
  return (meta & M_UNPROVEN) !== 0 ||
    EMBRYONIC_STATE[(meta >>> M_STATE_SHIFT) & M_STATE_MASK] === 1;
}

/** "Not on the embryonic list" in the list's next links. */
const OFF_LIST = -2;

const METHODS: readonly ForwardMethod[] = ["dr", "nat", "tun"];

function methodCode(method: ForwardMethod): number {
  return method === "nat" ? 1 : method === "tun" ? 2 : 0;
}

/** The meta bits a flow of `protocol` has under (M_USED | M_UDP), or 0 for other protocols. */
function protoBits(protocol: number): number {
  return protocol === PROTO_TCP ? M_USED : protocol === PROTO_UDP ? M_USED | M_UDP : 0;
}

/** Throws a RangeError unless `cap` is an integer in 1..2^26 (the table's own limit). */
function checkCapacity(cap: number): void {
  if (!Number.isInteger(cap) || cap < 1 || cap > 1 << 26) {
    throw new RangeError(`conntrack capacity ${cap} is not an integer in 1..2^26`);
  }
}

/** Default maximum number of flows. */
export const DEFAULT_CONN_CAPACITY = 1 << 18;

/** What {@link ConnTable}'s constructor takes. */
export interface ConnTableOptions {
  /** Maximum number of flows (default 262144). Memory is allocated up front. */
  capacity?: number;
  /** Time source (default the system clock). */
  clock?: Clock;
  /** Per-state timeouts in milliseconds, overriding the IPVS defaults. */
  timeouts?: Partial<Record<ConnStateName, number>>;
  /** Slots `expire()` visits per call by default (default capacity / 64, at least 256). */
  sweepBudget?: number;
  /** Hash seed; random by default, so remote peers cannot aim at one hash chain. */
  seed?: number;
  /** Count SYN_SENT, SYN_RECV and SYNACK as active, as mainline Linux does (default false). */
  countHandshakeAsActive?: boolean;
  /**
   * Lifetime of an embryonic entry made without a SYN, and of every embryonic entry while the
   * table is under pressure (milliseconds, default 5000).
   */
  embryonicTimeoutMs?: number;
  /** Share of the capacity in use from which the table is under pressure (default 0.75). */
  pressureFraction?: number;
}

/** Default lifetime of unproven and, under pressure, embryonic entries. */
export const DEFAULT_EMBRYONIC_TIMEOUT_MS = 5_000;

/** Event counts, updated in place. */
export interface ConnTableCounters {
  /** Flows inserted. */
  inserted: number;
  /** New flows refused because the table was full. */
  refused: number;
  /** Flows removed because their time ran out (by a lookup or the sweep). */
  expired: number;
  /** Flows removed on request (`remove`, `removeByReal`, `clear`). */
  removed: number;
  /** Live flows replaced by an insert with the same key. */
  replaced: number;
  /** Embryonic flows evicted to make room for a new flow in a full table. */
  evicted: number;
  /** Embryonic deadlines cut to the short timeout because the table was under pressure. */
  shortened: number;
}

/** The connection table. Slots are entry handles, valid until the entry is removed. */
export class ConnTable {
  #capacity: number;
  /** Slots allocated (at least the capacity; shrinking the capacity keeps them). */
  #slots: number;
  /** Whether the sweep budget follows the capacity (not set by the options). */
  readonly #autoBudget: boolean;
  /** Event counts. */
  readonly counters: ConnTableCounters = {
    inserted: 0,
    refused: 0,
    expired: 0,
    removed: 0,
    replaced: 0,
    evicted: 0,
    shortened: 0,
  };
  /** Slots visited per `expire()` call unless the call says otherwise. */
  sweepBudget: number;

  /** Read in the allocation-free form on the packet path (stack/net/frame_clock.ts). */
  readonly #clock: FrameClock;
  readonly #seed: number;
  readonly #timeouts = new Float64Array(STATE_COUNT);
  readonly #active: Readonly<Uint8Array>;
  readonly #reals = new RealRegistry();
  #embryonicMs: number;
  readonly #pressureFraction: number;
  /** Size from which the table is under pressure. */
  #pressureAt: number;
  /** The embryonic FIFO: oldest at the head; links per slot, OFF_LIST when not on it. */
  #embPrev: Int32Array;
  #embNext: Int32Array;
  #embHead = -1;
  #embTail = -1;
  #embCount = 0;
  #size = 0;
  #freeHead = 0;
  #sweepAt = 0;

  /** Rows of ROW_WORDS u32 per slot. */
  #row: Uint32Array;
  /** The same memory as float64s, for the deadlines (index slot * 4 + F_EXPIRES). */
  #f64: Float64Array;
  /** Next slot in the "in" chain; for a free slot, the next free slot. -1 ends a list. */
  #inNext: Int32Array;
  #outNext: Int32Array;
  #inHead: Int32Array;
  #outHead: Int32Array;
  #mask: number;
  /** The IPv6 side array (SIX_WORDS per slot), null until the first IPv6 flow. */
  #six: Uint32Array | null = null;

  /** An empty table; throws a RangeError on a capacity that is not an integer in 1..2^26. */
  constructor(options: ConnTableOptions = {}) {
    const cap = options.capacity ?? DEFAULT_CONN_CAPACITY;
    checkCapacity(cap);
    this.#capacity = cap;
    this.#slots = cap;
    this.#autoBudget = options.sweepBudget === undefined;
    this.#clock = frameClockOf(options.clock ?? systemClock);
    this.#seed = options.seed ?? crypto.getRandomValues(new Uint32Array(1))[0];
    this.sweepBudget = options.sweepBudget ?? Math.max(256, Math.ceil(cap / 64));
    this.#active = options.countHandshakeAsActive ? ACTIVE_WITH_HANDSHAKE : ACTIVE_ESTABLISHED_ONLY;
    for (let s = 0; s < STATE_COUNT; s++) this.#timeouts[s] = DEFAULT_TIMEOUTS_MS[STATE_NAMES[s]];
    for (const [name, ms] of Object.entries(options.timeouts ?? {})) {
      this.setTimeout(name as ConnStateName, ms);
    }
    this.#embryonicMs = DEFAULT_EMBRYONIC_TIMEOUT_MS;
    if (options.embryonicTimeoutMs !== undefined) {
      this.embryonicTimeoutMs = options.embryonicTimeoutMs;
    }
    const pf = options.pressureFraction ?? 0.75;
    if (!(pf > 0 && pf <= 1)) throw new RangeError(`pressure fraction ${pf} is not in (0, 1]`);
    this.#pressureFraction = pf;
    this.#pressureAt = Math.max(1, Math.floor(cap * pf));
    this.#embPrev = new Int32Array(cap);
    this.#embNext = new Int32Array(cap).fill(OFF_LIST);
    const buf = new ArrayBuffer(cap * ROW_WORDS * 4);
    this.#row = new Uint32Array(buf);
    this.#f64 = new Float64Array(buf);
    this.#inNext = new Int32Array(cap);
    this.#outNext = new Int32Array(cap);
    let buckets = 16;
    while (buckets < cap) buckets *= 2;
    this.#inHead = new Int32Array(buckets).fill(-1);
    this.#outHead = new Int32Array(buckets).fill(-1);
    this.#mask = buckets - 1;
    this.#resetFreeList();
  }

  /** Maximum number of flows (ipvsadm's table size): new flows get a slot only below it. */
  get capacity(): number {
    return this.#capacity;
  }

  /**
   * Changes the bound live (see the module comment): growing allocates and copies (slots keep
   * their numbers), shrinking below the current size keeps every flow and refuses new ones until
   * the size is below the bound. Throws a RangeError for a capacity outside 1..2^26. Control path.
   */
  setCapacity(cap: number): void {
    checkCapacity(cap);
    if (cap > this.#slots) this.#grow(cap);
    this.#capacity = cap;
    this.#pressureAt = Math.max(1, Math.floor(cap * this.#pressureFraction));
    if (this.#autoBudget) this.sweepBudget = Math.max(256, Math.ceil(this.#slots / 64));
  }

  /** Number of entries holding a slot (expired ones not yet freed included). */
  get size(): number {
    return this.#size;
  }

  /** Embryonic entries (see the module comment): the ones a full table evicts first. */
  get embryonicCount(): number {
    return this.#embCount;
  }

  /** True while at least the pressure fraction of the table is in use. */
  get underPressure(): boolean {
    return this.#size >= this.#pressureAt;
  }

  /** Lifetime (ms) of unproven entries, and of embryonic ones under pressure. */
  get embryonicTimeoutMs(): number {
    return this.#embryonicMs;
  }

  /** Sets it; a RangeError for a negative or non-finite time. */
  set embryonicTimeoutMs(ms: number) {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timeout ${ms} ms is not >= 0`);
    this.#embryonicMs = ms;
  }

  /** Bytes of typed-array storage the table holds (allocated up front for `capacity`). */
  get memoryBytes(): number {
    return this.#row.byteLength + this.#inNext.byteLength + this.#outNext.byteLength +
      this.#inHead.byteLength + this.#outHead.byteLength + this.#embPrev.byteLength +
      this.#embNext.byteLength + (this.#six?.byteLength ?? 0);
  }

  /** `memoryBytes / slots`: the storage cost of one flow, hash buckets included. */
  get bytesPerFlow(): number {
    return this.memoryBytes / this.#slots;
  }

  /** Timeout of a state in milliseconds. */
  timeout(state: ConnStateName): number {
    return this.#timeouts[ConnState[state]];
  }

  /**
   * Sets a state's timeout (ipvsadm `--set`). Entries pick it up at their next packet. Throws a
   * RangeError on an unknown state or a negative or non-finite time.
   */
  setTimeout(state: ConnStateName, ms: number): void {
    const s = ConnState[state];
    if (s === undefined) throw new RangeError(`unknown connection state "${state}"`);
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timeout ${ms} ms is not >= 0`);
    this.#timeouts[s] = ms;
  }

  // ---------------------------------------------------------------- packet path

  /**
   * The live entry for a client -> VIP packet, or -1 (also for a protocol other than TCP or
   * UDP). An entry found past its deadline is removed and counts as a miss. Allocates nothing.
   */
  lookupIn(
    protocol: number,
    clientIp: number,
    clientPort: number,
    vip: number,
    vport: number,
  ): number {
    const pm = protoBits(protocol);
    if (pm === 0) return -1;
    const ports = ((clientPort << 16) | vport) >>> 0;
    const row = this.#row;
    let s = this.#inHead[this.#inHash(pm, clientIp, vip, ports)];
    while (s >= 0) {
      const o = s << 3;
      if (
        row[o + W_CIP] === clientIp && row[o + W_VIP] === vip && row[o + W_PORTS] === ports &&
        (row[o + W_META] & M_KEY) === pm
      ) {
        return this.#live(s) ? s : -1; // the "in" key is unique: insert replaces a duplicate
      }
      s = this.#inNext[s];
    }
    return -1;
  }

  /** True when the entry in `s` has not expired; an expired one is freed (and counted). */
  #live(s: number): boolean {
    const clock = this.#clock;
    if (!clock.fresh) clock.read();
    if (this.#f64[(s << 2) + F_EXPIRES] > clock.time[0]) return true;
    this.#free(s);
    this.counters.expired++;
    return false;
  }

  /**
   * The live entry for a real server -> client packet (NAT replies), or -1. When two services
   * share a real server and a client uses the same port towards both, the first live match wins
   * (IPVS has the same ambiguity). Expired entries met on the way are removed. Allocates nothing.
   */
  lookupOut(
    protocol: number,
    realIp: number,
    realPort: number,
    clientIp: number,
    clientPort: number,
  ): number {
    const pm = protoBits(protocol);
    if (pm === 0) return -1;
    const row = this.#row;
    let s = this.#outHead[this.#outHash(pm, realIp, realPort, clientIp, clientPort)];
    while (s >= 0) {
      const next = this.#outNext[s];
      const o = s << 3;
      const meta = row[o + W_META];
      if (
        row[o + W_RIP] === realIp && row[o + W_CIP] === clientIp &&
        (meta & 0xffff) === realPort && row[o + W_PORTS] >>> 16 === clientPort &&
        (meta & M_KEY) === pm
      ) {
        if (this.#live(s)) return s;
      }
      s = next;
    }
    return -1;
  }

  /**
   * Adds a flow and returns its slot. A full table evicts its oldest embryonic entry for it
   * (`counters.evicted`); with none to evict it returns -1 (`counters.refused`). The flow starts in NONE (TCP) or UDP with that state's timeout and
   * counts as inactive on `real`; feed it its first packet with {@link track}. An existing entry
   * with the same (protocol, client, vip) key is replaced. `realPort` is the port packets to the
   * server carry (the service's port when the server has none). DR and TUN flows use the
   * INPUT-ONLY state table until a server -> client packet is tracked. Throws a RangeError for a
   * protocol other than TCP or UDP (a caller's bug, not packet data).
   */
  insert(
    protocol: number,
    clientIp: number,
    clientPort: number,
    vip: number,
    vport: number,
    real: RealServer,
    realPort: number,
    method: ForwardMethod,
  ): number {
    const pm = protoBits(protocol);
    if (pm === 0) throw new RangeError(`conntrack: protocol ${protocol} is not TCP or UDP`);
    const ports = ((clientPort << 16) | vport) >>> 0;
    const row = this.#row;
    let dup = -1;
    for (
      let s = this.#inHead[this.#inHash(pm, clientIp, vip, ports)];
      s >= 0;
      s = this.#inNext[s]
    ) {
      const o = s << 3;
      if (
        row[o + W_CIP] === clientIp && row[o + W_VIP] === vip && row[o + W_PORTS] === ports &&
        (row[o + W_META] & M_KEY) === pm
      ) {
        dup = s;
        break;
      }
    }
    return this.#place(pm, clientIp, vip, ports, real.address, real, realPort, method, dup);
  }

  /**
   * {@link insert} for an IPv6 flow: the client's address is `buf[cOff ..+16)`, the VIP's
   * `buf[vOff ..+16)`, `real` an IPv6 real server. The row keeps seeded folds of the three
   * addresses (so the IPv4 row does not grow) and the side array the client's and VIP's 128 bits
   * (allocated for every slot at the first IPv6 flow; the real server's are in its object).
   */
  insert6(
    protocol: number,
    buf: Uint8Array,
    cOff: number,
    vOff: number,
    clientPort: number,
    vport: number,
    real: RealServer,
    realPort: number,
    method: ForwardMethod,
  ): number {
    const pm0 = protoBits(protocol);
    if (pm0 === 0) throw new RangeError(`conntrack: protocol ${protocol} is not TCP or UDP`);
    const r6 = real.address6;
    if (r6 === null) throw new RangeError("conntrack: an IPv6 flow needs an IPv6 real server");
    const six = this.#six ?? this.#allocSix();
    const pm = pm0 | M_V6;
    const seed = this.#seed;
    const cf = fold128(seed, buf, cOff);
    const vf = fold128(seed, buf, vOff);
    const dup = this.#findIn6(pm, buf, cOff, vOff, cf, vf, ((clientPort << 16) | vport) >>> 0);
    const ports = ((clientPort << 16) | vport) >>> 0;
    const s = this.#place(pm, cf, vf, ports, fold128(seed, r6, 0), real, realPort, method, dup);
    if (s >= 0) {
      const w = s * SIX_WORDS;
      for (let i = 0; i < 4; i++) {
        six[w + i] = readWord(buf, cOff + 4 * i);
        six[w + 4 + i] = readWord(buf, vOff + 4 * i);
      }
    }
    return s;
  }

  /**
   * Writes a new entry (the common part of insert and insert6): `dup` is a live entry with the
   * same key, replaced; a full table evicts its oldest embryonic entry or refuses (-1).
   */
  #place(
    pm: number,
    cip: number,
    vip: number,
    ports: number,
    rip: number,
    real: RealServer,
    realPort: number,
    method: ForwardMethod,
    dup: number,
  ): number {
    const clock = this.#clock;
    if (!clock.fresh) clock.read();
    const now = clock.time[0];
    if (dup >= 0) {
      if (this.#f64[(dup << 2) + F_EXPIRES] <= now) this.counters.expired++;
      else this.counters.replaced++;
      this.#free(dup);
    }
    // At the bound (or over it, after a shrink) a new flow takes an embryonic entry's slot or
    // none; below it a free slot exists, since the arrays have at least `capacity` slots.
    if (this.#size >= this.#capacity) {
      const victim = this.#embHead;
      if (victim < 0) {
        this.counters.refused++;
        return -1;
      }
      this.#free(victim);
      this.counters.evicted++;
    }
    const row = this.#row;
    const s = this.#freeHead;
    this.#freeHead = this.#inNext[s];
    const m = methodCode(method);
    const state = pm & M_UDP ? ConnState.UDP : ConnState.NONE;
    const o = s << 3;
    row[o + W_CIP] = cip;
    row[o + W_VIP] = vip;
    row[o + W_PORTS] = ports;
    row[o + W_META] = pm | M_INACTIVE | M_UNPROVEN | M_FRESH | (m === 1 ? 0 : M_NOOUTPUT) |
      (m << M_METHOD_SHIFT) | (state << M_STATE_SHIFT) | (realPort & 0xffff);
    row[o + W_RIP] = rip;
    row[o + W_REAL] = this.#reals.acquire(real);
    this.#f64[(s << 2) + F_EXPIRES] = now + this.#timeouts[state];
    real.inactiveConns++;
    const bucket = this.#inHash(pm, cip, vip, ports);
    this.#inNext[s] = this.#inHead[bucket];
    this.#inHead[bucket] = s;
    const ob = this.#outHash(pm, row[o + W_RIP], realPort & 0xffff, cip, ports >>> 16);
    this.#outNext[s] = this.#outHead[ob];
    this.#outHead[ob] = s;
    this.#size++;
    this.#embLink(s);
    this.counters.inserted++;
    return s;
  }

  /** The entry (live or not) with this IPv6 "in" key, or -1. */
  #findIn6(
    pm: number,
    buf: Uint8Array,
    cOff: number,
    vOff: number,
    cf: number,
    vf: number,
    ports: number,
  ): number {
    const row = this.#row;
    for (let s = this.#inHead[this.#inHash(pm, cf, vf, ports)]; s >= 0; s = this.#inNext[s]) {
      const o = s << 3;
      if (
        row[o + W_CIP] === cf && row[o + W_VIP] === vf && row[o + W_PORTS] === ports &&
        (row[o + W_META] & M_KEY) === pm && this.#sixEquals(s, 0, buf, cOff) &&
        this.#sixEquals(s, 4, buf, vOff)
      ) {
        return s;
      }
    }
    return -1;
  }

  /** True when the side array's address at word `at` (0 client, 4 VIP) of `s` is buf's. */
  #sixEquals(s: number, at: number, buf: Uint8Array, off: number): boolean {
    const six = this.#six as Uint32Array;
    const w = s * SIX_WORDS + at;
    for (let i = 0; i < 4; i++) if (six[w + i] !== readWord(buf, off + 4 * i)) return false;
    return true;
  }

  /** Allocates the IPv6 side array (at the first IPv6 flow). */
  #allocSix(): Uint32Array {
    this.#six = new Uint32Array(this.#slots * SIX_WORDS);
    return this.#six;
  }

  /**
   * {@link lookupIn} for an IPv6 packet: client `buf[cOff ..+16)` -> VIP `buf[vOff ..+16)`.
   * Allocates nothing.
   */
  lookupIn6(
    protocol: number,
    buf: Uint8Array,
    cOff: number,
    vOff: number,
    clientPort: number,
    vport: number,
  ): number {
    const pm0 = protoBits(protocol);
    if (pm0 === 0 || this.#six === null) return -1;
    const pm = pm0 | M_V6;
    const seed = this.#seed;
    const cf = fold128(seed, buf, cOff);
    const vf = fold128(seed, buf, vOff);
    const ports = ((clientPort << 16) | vport) >>> 0;
    const row = this.#row;
    // The walk written out, as in lookupIn (insert6's #findIn6 is the same walk).
    let s = this.#inHead[this.#inHash(pm, cf, vf, ports)];
    while (s >= 0) {
      const o = s << 3;
      if (
        row[o + W_CIP] === cf && row[o + W_VIP] === vf && row[o + W_PORTS] === ports &&
        (row[o + W_META] & M_KEY) === pm && this.#sixEquals(s, 0, buf, cOff) &&
        this.#sixEquals(s, 4, buf, vOff)
      ) {
        return this.#live(s) ? s : -1;
      }
      s = this.#inNext[s];
    }
    return -1;
  }

  /**
   * {@link lookupOut} for an IPv6 packet: real server `buf[rOff ..+16)` -> client
   * `buf[cOff ..+16)`. Allocates nothing.
   */
  lookupOut6(
    protocol: number,
    buf: Uint8Array,
    rOff: number,
    cOff: number,
    realPort: number,
    clientPort: number,
  ): number {
    const pm0 = protoBits(protocol);
    if (pm0 === 0 || this.#six === null) return -1;
    const pm = pm0 | M_V6;
    const seed = this.#seed;
    const rf = fold128(seed, buf, rOff);
    const cf = fold128(seed, buf, cOff);
    const row = this.#row;
    let s = this.#outHead[this.#outHash(pm, rf, realPort, cf, clientPort)];
    while (s >= 0) {
      const next = this.#outNext[s];
      const o = s << 3;
      const meta = row[o + W_META];
      if (
        row[o + W_RIP] === rf && row[o + W_CIP] === cf && (meta & 0xffff) === realPort &&
        row[o + W_PORTS] >>> 16 === clientPort && (meta & M_KEY) === pm &&
        this.#sixEquals(s, 0, buf, cOff) &&
        equal16(this.#reals.get(row[o + W_REAL]).address6 as Uint8Array, 0, buf, rOff)
      ) {
        if (this.#live(s)) return s;
      }
      s = next;
    }
    return -1;
  }

  /**
   * Accounts a packet of the flow in `slot`: `direction` is Direction.INPUT (client -> server)
   * or Direction.OUTPUT (server -> client), `tcpFlags` the TCP header's flag byte (ignored for
   * UDP). Moves the TCP state by IPVS's tables, keeps the server's active/inactive counts, and
   * re-arms the deadline with the new state's timeout. Returns the new state.
   */
  track(slot: number, direction: number, tcpFlags: number): number {
    const clock = this.#clock;
    if (!clock.fresh) clock.read();
    const now = clock.time[0];
    const o = slot << 3;
    let meta = this.#row[o + W_META];
    // The packet that created the entry only clears M_FRESH; the next one proves the flow. An
    // established flow has neither bit.
    const young = meta & (M_FRESH | M_UNPROVEN);
    const old = (meta >>> M_STATE_SHIFT) & M_STATE_MASK;
    let state = old;
    if (young !== 0) meta &= (young & M_FRESH) !== 0 ? ~M_FRESH : ~M_UNPROVEN;
    if ((meta & M_UDP) === 0) {
      let table = direction;
      // IPVS set_tcp_state: a DR/TUN flow uses INPUT-ONLY until an output packet shows up.
      if (meta & M_NOOUTPUT) {
        if (direction === Direction.OUTPUT) meta &= ~M_NOOUTPUT;
        else table = TABLE_INPUT_ONLY;
      }
      state = nextTcpState(table, old, tcpFlags);
      if (state !== old) {
        const active = this.#active[state] === 1;
        if (!(meta & M_INACTIVE) && !active) {
          const r = this.#reals.get(this.#row[o + W_REAL]);
          r.activeConns--;
          r.inactiveConns++;
          meta |= M_INACTIVE;
        } else if ((meta & M_INACTIVE) && active) {
          const r = this.#reals.get(this.#row[o + W_REAL]);
          r.activeConns++;
          r.inactiveConns--;
          meta &= ~M_INACTIVE;
        }
        meta = (meta & ~(M_STATE_MASK << M_STATE_SHIFT)) | (state << M_STATE_SHIFT);
      }
    }
    this.#row[o + W_META] = meta;
    let timeout = this.#timeouts[state];
    // Only a young, embryonic or changed flow has more to settle (kept off the common path).
    if (young !== 0 || state !== old || EMBRYONIC_STATE[state] === 1) {
      timeout = this.#settle(slot, meta, young, old, state, timeout);
    }
    this.#f64[(slot << 2) + F_EXPIRES] = now + timeout;
    return state;
  }

  /**
   * After a packet of a young, embryonic or changed flow: moves `slot` on or off the embryonic
   * list, and returns its timeout: short for an entry made without the client's SYN until it is
   * proven, and for any embryonic entry while the table is under pressure.
   */
  #settle(
    slot: number,
    meta: number,
    young: number,
    old: number,
    state: number,
    timeout: number,
  ): number {
    const was = (young & M_UNPROVEN) !== 0 || EMBRYONIC_STATE[old] === 1;
    const is = embryonic(meta);
    if (is !== was) {
      if (is) this.#embLink(slot);
      else this.#embUnlink(slot);
    }
    const short = this.#embryonicMs;
    if (
      (meta & (M_UNPROVEN | M_UDP)) === M_UNPROVEN && old === ConnState.NONE &&
      state !== ConnState.SYN_RECV && timeout > short
    ) {
      return short;
    }
    if (is && timeout > short && this.#size >= this.#pressureAt) {
      this.counters.shortened++;
      return short;
    }
    return timeout;
  }

  /** Removes the entry in `slot`; nothing happens if the slot is free. */
  remove(slot: number): void {
    if (this.#row[(slot << 3) + W_META] === 0) return;
    this.#free(slot);
    this.counters.removed++;
  }

  // ---------------------------------------------------------------- entry fields

  /** IP protocol number of the entry (PROTO_TCP or PROTO_UDP); 0 for a free slot. */
  protocol(slot: number): number {
    const meta = this.#row[(slot << 3) + W_META];
    return meta === 0 ? 0 : meta & M_UDP ? PROTO_UDP : PROTO_TCP;
  }

  /** State number (see ConnState). */
  state(slot: number): number {
    return (this.#row[(slot << 3) + W_META] >>> M_STATE_SHIFT) & M_STATE_MASK;
  }

  /** State name. */
  stateName(slot: number): ConnStateName {
    return STATE_NAMES[this.state(slot)];
  }

  /** Client address (u32). */
  clientIp(slot: number): number {
    return this.#row[(slot << 3) + W_CIP];
  }

  /** Client port. */
  clientPort(slot: number): number {
    return this.#row[(slot << 3) + W_PORTS] >>> 16;
  }

  /** Virtual address (u32). */
  vip(slot: number): number {
    return this.#row[(slot << 3) + W_VIP];
  }

  /** Virtual port. */
  vport(slot: number): number {
    return this.#row[(slot << 3) + W_PORTS] & 0xffff;
  }

  /** Real server address (u32). */
  realIp(slot: number): number {
    return this.#row[(slot << 3) + W_RIP];
  }

  /** Real server port. */
  realPort(slot: number): number {
    return this.#row[(slot << 3) + W_META] & 0xffff;
  }

  /** The real server object. */
  real(slot: number): RealServer {
    return this.#reals.get(this.#row[(slot << 3) + W_REAL]);
  }

  /** True when the entry is an IPv6 flow (its addresses: {@link client6}, {@link vip6}). */
  isIpv6(slot: number): boolean {
    return (this.#row[(slot << 3) + W_META] & M_V6) !== 0;
  }

  /** An IPv6 entry's client address (a copy: control path), or null for an IPv4 entry. */
  client6(slot: number): Uint8Array | null {
    return this.isIpv6(slot) ? this.#sixBytes(slot, 0) : null;
  }

  /** An IPv6 entry's VIP (a copy: control path), or null for an IPv4 entry. */
  vip6(slot: number): Uint8Array | null {
    return this.isIpv6(slot) ? this.#sixBytes(slot, 4) : null;
  }

  /** Writes an IPv6 entry's VIP into `out[off ..+16)` (the packet path's form: no allocation). */
  copyVip6(slot: number, out: Uint8Array, off: number): void {
    const six = this.#six as Uint32Array;
    for (let i = 0; i < 4; i++) {
      const v = six[slot * SIX_WORDS + 4 + i];
      out[off + 4 * i] = v >>> 24;
      out[off + 4 * i + 1] = (v >>> 16) & 0xff;
      out[off + 4 * i + 2] = (v >>> 8) & 0xff;
      out[off + 4 * i + 3] = v & 0xff;
    }
  }

  #sixBytes(slot: number, at: number): Uint8Array {
    const out = new Uint8Array(16);
    const six = this.#six as Uint32Array;
    for (let i = 0; i < 4; i++) {
      const v = six[slot * SIX_WORDS + at + i];
      out[4 * i] = v >>> 24;
      out[4 * i + 1] = (v >>> 16) & 0xff;
      out[4 * i + 2] = (v >>> 8) & 0xff;
      out[4 * i + 3] = v & 0xff;
    }
    return out;
  }

  /** Forwarding method. */
  method(slot: number): ForwardMethod {
    return METHODS[(this.#row[(slot << 3) + W_META] >>> M_METHOD_SHIFT) & 3];
  }

  /** Clock time (ms) at which the entry expires unless refreshed. */
  expiresAt(slot: number): number {
    return this.#f64[(slot << 2) + F_EXPIRES];
  }

  /** True while the entry counts as active on its server. */
  isActive(slot: number): boolean {
    return (this.#row[(slot << 3) + W_META] & M_INACTIVE) === 0;
  }

  // ---------------------------------------------------------------- housekeeping

  /**
   * Frees entries whose deadline is at or before `now`, visiting at most `budget` slots from
   * where the previous call stopped (wrapping around). Call it from a periodic tick; a full pass
   * takes capacity / budget calls. Returns how many entries it freed.
   */
  expire(now: number = this.#clock.now(), budget: number = this.sweepBudget): number {
    const cap = this.#slots;
    const n = Math.min(budget, cap);
    let at = this.#sweepAt;
    let freed = 0;
    for (let i = 0; i < n; i++) {
      if (this.#row[(at << 3) + W_META] !== 0 && this.#f64[(at << 2) + F_EXPIRES] <= now) {
        this.#free(at);
        freed++;
      }
      if (++at === cap) at = 0;
    }
    this.#sweepAt = at;
    this.counters.expired += freed;
    return freed;
  }

  /** Removes every flow of `real` (when it is deleted from its service); returns how many. */
  removeByReal(real: RealServer): number {
    const id = this.#reals.idOf(real);
    if (id < 0) return 0;
    let n = 0;
    for (let s = 0; s < this.#slots; s++) {
      const o = s << 3;
      if (this.#row[o + W_META] !== 0 && this.#row[o + W_REAL] === id) {
        this.#free(s);
        n++;
      }
    }
    this.counters.removed += n;
    return n;
  }

  /** Removes every flow. */
  clear(): void {
    for (let s = 0; s < this.#slots; s++) {
      if (this.#row[(s << 3) + W_META] !== 0) {
        this.#free(s);
        this.counters.removed++;
      }
    }
    this.#resetFreeList();
  }

  /** The live flows (past-deadline ones skipped), copied out for listings; allocates. */
  *entries(): IterableIterator<ConnInfo> {
    const now = this.#clock.now();
    for (let s = 0; s < this.#slots; s++) {
      if (this.#row[(s << 3) + W_META] === 0 || this.expiresAt(s) <= now) continue;
      yield {
        protocol: this.protocol(s) === PROTO_UDP ? "udp" : "tcp",
        state: this.stateName(s),
        expiresInMs: this.expiresAt(s) - now,
        clientIp: this.clientIp(s),
        clientPort: this.clientPort(s),
        vip: this.vip(s),
        vport: this.vport(s),
        realIp: this.realIp(s),
        realPort: this.realPort(s),
        method: this.method(s),
        real: this.real(s),
        ...(this.isIpv6(s) ? { client6: this.client6(s)!, vip6: this.vip6(s)! } : {}),
      };
    }
  }

  // ---------------------------------------------------------------- internals

  /** Bucket of an "in" key; `pm` is the protocol's meta bits, `ports` cport << 16 | vport. */
  #inHash(pm: number, clientIp: number, vip: number, ports: number): number {
    let h = murmurRound(this.#seed ^ pm, clientIp);
    h = murmurRound(h, vip);
    h = murmurRound(h, ports);
    return murmurFinish(h, 12) & this.#mask;
  }

  /** Bucket of an "out" key. */
  #outHash(pm: number, realIp: number, realPort: number, clientIp: number, clientPort: number) {
    let h = murmurRound(~this.#seed ^ pm, realIp);
    h = murmurRound(h, clientIp);
    h = murmurRound(h, (realPort << 16) | clientPort);
    return murmurFinish(h, 12) & this.#mask;
  }

  /** Unlinks a live slot from both indexes, settles its server's counts, frees the slot. */
  #free(s: number): void {
    const row = this.#row;
    const o = s << 3;
    const meta = row[o + W_META];
    const pm = meta & M_KEY;
    const ports = row[o + W_PORTS];
    const ib = this.#inHash(pm, row[o + W_CIP], row[o + W_VIP], ports);
    this.#unlink(this.#inHead, this.#inNext, ib, s);
    const ob = this.#outHash(pm, row[o + W_RIP], meta & 0xffff, row[o + W_CIP], ports >>> 16);
    this.#unlink(this.#outHead, this.#outNext, ob, s);
    const id = row[o + W_REAL];
    const r = this.#reals.get(id);
    if (meta & M_INACTIVE) r.inactiveConns--;
    else r.activeConns--;
    this.#reals.release(id);
    if (this.#embNext[s] !== OFF_LIST) this.#embUnlink(s);
    row[o + W_META] = 0;
    this.#inNext[s] = this.#freeHead;
    this.#freeHead = s;
    this.#size--;
  }

  #unlink(head: Int32Array, next: Int32Array, bucket: number, s: number): void {
    let cur = head[bucket];
    if (cur === s) {
      head[bucket] = next[s];
      return;
    }
    while (cur >= 0) {
      const n = next[cur];
      if (n === s) {
        next[cur] = next[s];
        return;
      }
      cur = n;
    }
  }

  /** Appends a slot to the embryonic list (the newest end). */
  #embLink(s: number): void {
    const tail = this.#embTail;
    this.#embPrev[s] = tail;
    this.#embNext[s] = -1;
    if (tail >= 0) this.#embNext[tail] = s;
    else this.#embHead = s;
    this.#embTail = s;
    this.#embCount++;
  }

  /** Takes a slot off the embryonic list. */
  #embUnlink(s: number): void {
    const prev = this.#embPrev[s];
    const next = this.#embNext[s];
    if (prev >= 0) this.#embNext[prev] = next;
    else this.#embHead = next;
    if (next >= 0) this.#embPrev[next] = prev;
    else this.#embTail = prev;
    this.#embNext[s] = OFF_LIST;
    this.#embCount--;
  }

  /**
   * Reallocates every per-slot array for `slots` slots, copying the rows (slot numbers stay),
   * and rebuilds both hash indexes (more buckets for more slots) and the free list.
   */
  #grow(slots: number): void {
    const old = this.#slots;
    const buf = new ArrayBuffer(slots * ROW_WORDS * 4);
    const row = new Uint32Array(buf);
    row.set(this.#row);
    this.#row = row;
    this.#f64 = new Float64Array(buf);
    const embPrev = new Int32Array(slots);
    embPrev.set(this.#embPrev);
    const embNext = new Int32Array(slots).fill(OFF_LIST);
    embNext.set(this.#embNext);
    this.#embPrev = embPrev;
    this.#embNext = embNext;
    if (this.#six !== null) {
      const six = new Uint32Array(slots * SIX_WORDS);
      six.set(this.#six);
      this.#six = six;
    }
    this.#inNext = new Int32Array(slots);
    this.#outNext = new Int32Array(slots);
    let buckets = this.#inHead.length;
    while (buckets < slots) buckets *= 2;
    this.#inHead = new Int32Array(buckets).fill(-1);
    this.#outHead = new Int32Array(buckets).fill(-1);
    this.#mask = buckets - 1;
    this.#slots = slots;
    // Rebuilt from the rows: live slots into their chains, the others onto the free list (low
    // slots first, as a fresh table hands them out).
    this.#freeHead = -1;
    for (let s = slots - 1; s >= 0; s--) {
      const o = s << 3;
      const meta = s < old ? row[o + W_META] : 0;
      if (meta === 0) {
        this.#inNext[s] = this.#freeHead;
        this.#freeHead = s;
        continue;
      }
      const pm = meta & M_KEY;
      const ports = row[o + W_PORTS];
      const ib = this.#inHash(pm, row[o + W_CIP], row[o + W_VIP], ports);
      this.#inNext[s] = this.#inHead[ib];
      this.#inHead[ib] = s;
      const ob = this.#outHash(pm, row[o + W_RIP], meta & 0xffff, row[o + W_CIP], ports >>> 16);
      this.#outNext[s] = this.#outHead[ob];
      this.#outHead[ob] = s;
    }
  }

  #resetFreeList(): void {
    const next = this.#inNext;
    for (let s = 0; s < this.#slots - 1; s++) next[s] = s + 1;
    next[this.#slots - 1] = -1;
    this.#freeHead = 0;
    this.#inHead.fill(-1);
    this.#outHead.fill(-1);
    this.#embNext.fill(OFF_LIST);
    this.#embHead = -1;
    this.#embTail = -1;
    this.#embCount = 0;
    this.#size = 0;
  }
}

/** The big-endian u32 at `buf[off ..+4)`. */
function readWord(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}
