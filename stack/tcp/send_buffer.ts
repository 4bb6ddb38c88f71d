/**
 * The send buffer: a ring of bytes written by the application and not yet acknowledged
 * (RFC 9293 3.3.1: SND.UNA .. end of data), kept until the peer acknowledges them so they can be
 * retransmitted. The ring shares one ArrayBuffer with a frame-sized transmit area at offset 0:
 * a segment's payload is copied from the ring into the frame with `copyWithin` (a memmove inside
 * one buffer: no allocation, native speed), and the frame starts at a fixed index of its array
 * (0, or 10 where a virtio-net header goes in front), which lets the TAP write it without a
 * subarray.
 *
 * The ring starts small and doubles up to its maximum as the application writes, so a thousand
 * idle connections cost little; under the layer's memory pressure (memory.ts) it stops growing
 * and the application waits for acknowledgements instead.
 *
 * @module
 */

import { BudgetShare, type TcpMemory } from "./memory.ts";

/** Initial ring size, bytes (grows by doubling up to the configured maximum). */
export const SEND_BUFFER_INITIAL = 16 * 1024;

/** Unacknowledged and unsent application bytes of one connection. */
export class SendBuffer {
  /** The whole buffer: `[0, txArea)` is the transmit frame, `[txArea, txArea + cap)` the ring. */
  mem: Uint8Array;
  /** Ring capacity now, bytes. */
  cap: number;
  /** Ring index of the first byte (the one at SND.UNA, or the first unsent after a SYN). */
  head = 0;
  /** Bytes held. */
  len = 0;
  /** Largest ring capacity (the configured send buffer). */
  readonly max: number;
  /**
   * Bytes reserved for the transmit frame at the start of `mem`; grows once (growTxArea) when the
   * connection first sends a super-frame.
   */
  txArea: number;
  /** This buffer's bytes in the layer's budget (memory.ts). */
  readonly #budget: BudgetShare;

  /**
   * A ring of `initial` bytes (at most `max`) behind a `txArea`-byte transmit frame, charged to
   * `memory` when given.
   */
  constructor(txArea: number, max: number, initial = SEND_BUFFER_INITIAL, memory?: TcpMemory) {
    this.txArea = txArea;
    this.max = max;
    this.cap = initial < max ? initial : max;
    this.mem = new Uint8Array(txArea + this.cap);
    this.#budget = new BudgetShare(memory);
    this.#budget.charge(this.mem.byteLength);
  }

  /** Bytes the application may still write: up to the ring it has, under memory pressure. */
  get free(): number {
    return (this.#budget.pressure ? this.cap : this.max) - this.len;
  }

  /** Gives the buffer's bytes back to the budget (the connection ended); idempotent. */
  release(): void {
    this.#budget.release();
  }

  /**
   * Appends up to `n` bytes of `src[off..)`; returns how many fit (the buffer grows toward
   * `max` first). Called once per application write, not per segment.
   */
  write(src: Uint8Array, off: number, n: number): number {
    if (n > this.free) n = this.free;
    if (n <= 0) return 0;
    if (this.len + n > this.cap && !this.#grow(this.len + n)) {
      n = this.cap - this.len; // the budget said no: fill the ring there is
      if (n <= 0) return 0;
    }
    const cap = this.cap;
    let pos = this.head + this.len;
    if (pos >= cap) pos -= cap;
    const first = cap - pos < n ? cap - pos : n;
    this.mem.set(src.subarray(off, off + first), this.txArea + pos);
    if (first < n) this.mem.set(src.subarray(off + first, off + n), this.txArea);
    this.len += n;
    return n;
  }

  /** Drops the first `n` bytes (acknowledged by the peer). */
  consume(n: number): void {
    if (n <= 0) return;
    if (n > this.len) n = this.len;
    this.len -= n;
    this.head += n;
    if (this.head >= this.cap) this.head -= this.cap;
    if (this.len === 0) this.head = 0;
  }

  /**
   * Copies `n` bytes starting `offset` bytes after the head into `mem[dst..)` (the transmit
   * frame), with `copyWithin`: no allocation.
   */
  copyOut(offset: number, n: number, dst: number): void {
    const cap = this.cap;
    let pos = this.head + offset;
    if (pos >= cap) pos -= cap;
    const base = this.txArea;
    const first = cap - pos < n ? cap - pos : n;
    this.mem.copyWithin(dst, base + pos, base + pos + first);
    if (first < n) this.mem.copyWithin(dst + first, base, base + n - first);
  }

  /**
   * Enlarges the transmit area to `n` bytes (segmentation offload: a 64 KB super-frame), keeping
   * the ring's bytes and positions. Once per connection, on its first super-frame, so idle and
   * small connections keep the small frame.
   */
  growTxArea(n: number): void {
    if (n <= this.txArea) return;
    const mem = new Uint8Array(n + this.cap);
    mem.set(this.mem.subarray(this.txArea), n);
    this.#budget.charge(mem.byteLength - this.mem.byteLength);
    this.mem = mem;
    this.txArea = n;
  }

  /** Doubles the ring toward `need` if the budget allows; false when it does not. */
  #grow(need: number): boolean {
    let cap = this.cap;
    while (cap < need) cap *= 2;
    if (cap > this.max) cap = this.max;
    if (!this.#budget.mayGrow(cap - this.cap)) return false;
    const mem = new Uint8Array(this.txArea + cap);
    this.#budget.charge(mem.byteLength - this.mem.byteLength);
    // Unwrap the ring into the new one.
    const old = this.mem;
    const base = this.txArea;
    const first = this.cap - this.head < this.len ? this.cap - this.head : this.len;
    mem.set(old.subarray(base + this.head, base + this.head + first), base);
    if (first < this.len) mem.set(old.subarray(base, base + this.len - first), base + first);
    this.mem = mem;
    this.cap = cap;
    this.head = 0;
    return true;
  }
}
