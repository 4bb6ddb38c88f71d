/**
 * The receive buffer: a ring holding in-order bytes the application has not read yet, and
 * out-of-order data (RFC 9293 3.10.7.4 "segment text": TCP SHOULD queue segments beyond
 * RCV.NXT) written straight into its final place in the ring, tracked as a bounded list of
 * sequence ranges. When the gap before them fills, they become readable without a copy. The
 * ranges, most recent first, are the SACK blocks to report (RFC 2018 4).
 *
 * Payload is copied from the received frame by `WordCopier` (copy.ts): 32-bit words when the
 * alignment allows, bytes otherwise, and a super-frame's with the native copy through a cached
 * view; nothing is allocated per plain segment.
 *
 * @module
 */

import { seqGt, seqLeq, seqLt } from "../wire/seq.ts";
import { WordCopier } from "./copy.ts";

/** One copier for every receive buffer (single-threaded; it only caches source views). */
const copier = new WordCopier();

import { BudgetShare, type TcpMemory } from "./memory.ts";

/** Initial ring size, bytes (grows by doubling up to the configured maximum). */
export const RECV_BUFFER_INITIAL = 16 * 1024;

/** In-order and out-of-order received bytes of one connection. */
export class RecvBuffer {
  /** The ring. */
  mem: Uint8Array;
  /** 32-bit view of the ring (for word copies). */
  mem32: Uint32Array;
  /** Capacity now. */
  cap: number;
  /** Ring index of the first unread byte. */
  head = 0;
  /** In-order bytes not yet read by the application. */
  len = 0;
  /** Largest capacity (the configured receive buffer): the window is based on it. */
  readonly max: number;
  /** Out-of-order ranges [start, end) as sequence numbers, unordered. */
  readonly oooStart: Uint32Array;
  /** Right edges (exclusive). */
  readonly oooEnd: Uint32Array;
  /** Recency stamp of each range (higher: updated more recently). */
  readonly oooStamp: Float64Array;
  /** Number of out-of-order ranges. */
  oooCount = 0;
  /** Out-of-order octets held. */
  oooBytes = 0;
  #stamp = 0;
  /** This buffer's bytes in the layer's budget (memory.ts). */
  readonly #budget: BudgetShare;

  /**
   * A ring of `initial` bytes growing to `max`, tracking at most `maxRanges` holes, charged to
   * `memory` when given.
   */
  constructor(max: number, maxRanges = 32, initial = RECV_BUFFER_INITIAL, memory?: TcpMemory) {
    this.max = max;
    this.cap = initial < max ? initial : max;
    this.mem = new Uint8Array(this.cap);
    this.#budget = new BudgetShare(memory);
    this.#budget.charge(this.cap);
    this.mem32 = new Uint32Array(this.mem.buffer);
    this.oooStart = new Uint32Array(maxRanges);
    this.oooEnd = new Uint32Array(maxRanges);
    this.oooStamp = new Float64Array(maxRanges);
  }

  /**
   * Free space for the receive window: the ring's capacity minus unread in-order bytes, so every
   * byte the window offers is memory already held (and charged to the budget). The ring grows
   * toward `max` with {@link expand} while the peer keeps using the window it is offered.
   */
  get free(): number {
    return this.cap - this.len;
  }

  /**
   * Doubles the ring (up to `max`) if the memory budget allows; false when it is at `max` or the
   * budget is under pressure. Called when the peer uses most of the offered window.
   */
  expand(): boolean {
    if (this.cap >= this.max) return false;
    let cap = this.cap * 2;
    if (cap > this.max) cap = this.max;
    if (!this.#budget.mayGrow(cap - this.cap)) return false;
    this.#grow(cap);
    return true;
  }

  /** Gives the ring's bytes back to the budget (the connection ended); idempotent. */
  release(): void {
    this.#budget.release();
  }

  /**
   * Stores `n` bytes `src[off..)` with sequence number `seq`, given RCV.NXT = `rcvNxt`. The
   * caller has trimmed the segment to the window (rcvNxt <= seq, seq + n <= rcvNxt + free).
   * Returns the number of bytes RCV.NXT advances (0 for out-of-order data), or -1 when an
   * out-of-order segment had to be dropped because the range list is full.
   */
  store(seq: number, rcvNxt: number, src: Uint8Array, off: number, n: number): number {
    const rel = (seq - rcvNxt) >>> 0;
    if (rel !== 0 && !this.#canTrack(seq, seq + n)) return -1;
    const end = this.len + rel + n;
    if (end > this.cap) this.#grow(end);
    let pos = this.head + this.len + rel;
    const cap = this.cap;
    while (pos >= cap) pos -= cap;
    // Up to the end of the ring, then from its start.
    const first = cap - pos < n ? cap - pos : n;
    copier.copy(this.mem, this.mem32, pos, src, off, first);
    if (first < n) copier.copy(this.mem, this.mem32, 0, src, off + first, n - first);
    if (rel !== 0) {
      this.#addRange(seq, (seq + n) >>> 0);
      return 0;
    }
    // In order: the new bytes, then any out-of-order ranges they reach.
    let advance = n;
    let next = (rcvNxt + n) >>> 0;
    for (;;) {
      const k = this.#rangeReaching(next);
      if (k < 0) break;
      const rEnd = this.oooEnd[k];
      this.oooBytes -= (rEnd - this.oooStart[k]) >>> 0;
      if (seqGt(rEnd, next)) {
        advance += (rEnd - next) >>> 0;
        next = rEnd;
      }
      this.#removeRange(k);
    }
    this.len += advance;
    return advance;
  }

  /** Copies up to `n` unread bytes into `dst[off..)`, consuming them; returns the count. */
  read(dst: Uint8Array, off: number, n: number): number {
    if (n > this.len) n = this.len;
    if (n <= 0) return 0;
    const first = this.cap - this.head < n ? this.cap - this.head : n;
    dst.set(this.mem.subarray(this.head, this.head + first), off);
    if (first < n) dst.set(this.mem.subarray(0, n - first), off + first);
    this.head += n;
    if (this.head >= this.cap) this.head -= this.cap;
    this.len -= n;
    if (this.len === 0 && this.oooCount === 0) this.head = 0;
    return n;
  }

  /** Drops out-of-order ranges that RCV.NXT passed (e.g. data also covered by a FIN jump). */
  clearOutOfOrder(): void {
    this.oooCount = 0;
    this.oooBytes = 0;
  }

  /**
   * True when data at `seq` would extend the out-of-order range changed last (or there is none):
   * the SACK block an ACK reports first would only grow.
   */
  extendsLatest(seq: number): boolean {
    let best = -1;
    let bestStamp = -1;
    for (let i = 0; i < this.oooCount; i++) {
      if (this.oooStamp[i] > bestStamp) {
        best = i;
        bestStamp = this.oooStamp[i];
      }
    }
    return best < 0 || this.oooEnd[best] === seq;
  }

  /**
   * Writes up to `max` SACK blocks into `out` (left, right pairs): the range updated most
   * recently first (RFC 2018 4: the block holding the latest segment), then the others by
   * recency. Returns the number written.
   */
  sackBlocks(out: Uint32Array, max: number): number {
    const n = this.oooCount;
    let written = 0;
    let below = Infinity;
    while (written < max && written < n) {
      let best = -1;
      let bestStamp = -1;
      for (let i = 0; i < n; i++) {
        const st = this.oooStamp[i];
        if (st < below && st > bestStamp) {
          best = i;
          bestStamp = st;
        }
      }
      if (best < 0) break;
      out[2 * written] = this.oooStart[best];
      out[2 * written + 1] = this.oooEnd[best];
      below = bestStamp;
      written++;
    }
    return written;
  }

  #canTrack(start: number, end: number): boolean {
    if (this.oooCount < this.oooStart.length) return true;
    // Full: only data that touches an existing range (merges) can be kept.
    for (let i = 0; i < this.oooCount; i++) {
      if (seqLeq(this.oooStart[i], end) && seqLeq(start, this.oooEnd[i])) return true;
    }
    return false;
  }

  #addRange(start: number, end: number): void {
    const s = this.oooStart;
    const e = this.oooEnd;
    // Merge every range that overlaps or touches [start, end).
    let i = 0;
    while (i < this.oooCount) {
      if (seqLeq(s[i], end) && seqLeq(start, e[i])) {
        if (seqLt(s[i], start)) start = s[i];
        if (seqGt(e[i], end)) end = e[i];
        this.oooBytes -= (e[i] - s[i]) >>> 0;
        this.#removeRange(i);
      } else {
        i++;
      }
    }
    const k = this.oooCount++;
    s[k] = start;
    e[k] = end;
    this.oooStamp[k] = ++this.#stamp;
    this.oooBytes += (end - start) >>> 0;
  }

  #rangeReaching(seq: number): number {
    for (let i = 0; i < this.oooCount; i++) {
      if (seqLeq(this.oooStart[i], seq)) return i;
    }
    return -1;
  }

  #removeRange(i: number): void {
    const last = --this.oooCount;
    this.oooStart[i] = this.oooStart[last];
    this.oooEnd[i] = this.oooEnd[last];
    this.oooStamp[i] = this.oooStamp[last];
  }

  #grow(need: number): void {
    let cap = this.cap;
    while (cap < need) cap *= 2;
    if (cap > this.max) cap = this.max;
    // Data the window already offered is stored even under pressure (the peer was promised it).
    this.#budget.charge(cap - this.cap);
    const mem = new Uint8Array(cap);
    // Unwrap everything from head to the old capacity (in-order and out-of-order bytes alike).
    const old = this.mem;
    const tail = this.cap - this.head;
    mem.set(old.subarray(this.head, this.cap), 0);
    mem.set(old.subarray(0, this.head), tail);
    this.mem = mem;
    this.mem32 = new Uint32Array(mem.buffer);
    this.cap = cap;
    this.head = 0;
  }
}
