/**
 * One hashed timer wheel for every TCP connection of a stack (Varghese and Lauck's scheme 6, as
 * in Linux's timer wheel): a node sits in the slot of its expiry tick; advancing the wheel visits
 * only the slots whose ticks passed. Nodes are linked intrusively, so arming, moving and
 * cancelling allocate nothing. A connection keeps all its deadlines (retransmission, delayed ACK,
 * keepalive, TIME_WAIT, ...) itself and has one node at the earliest of them.
 *
 * @module
 */

/** What the wheel links: fields live on the timed object itself. */
export interface TimerNode {
  /** Expiry time, ms (meaningful while scheduled). */
  timerAt: number;
  /** Slot index, or -1 when not scheduled. */
  timerSlot: number;
  /** Previous node in the slot. */
  timerPrev: TimerNode | null;
  /** Next node in the slot. */
  timerNext: TimerNode | null;
}

/** A hashed timing wheel of `slots` slots of `tickMs` each. */
export class TimerWheel<T extends TimerNode> {
  /** Granularity, ms. */
  readonly tickMs: number;
  readonly #slots: (TimerNode | null)[];
  readonly #mask: number;
  /** The last tick fully processed. */
  #tick: number;
  #size = 0;

  /** A wheel starting at time `now`; `slots` is rounded up to a power of two. */
  constructor(now: number, tickMs = 10, slots = 512) {
    let n = 1;
    while (n < slots) n *= 2;
    this.tickMs = tickMs;
    this.#slots = new Array(n).fill(null);
    this.#mask = n - 1;
    this.#tick = Math.floor(now / tickMs);
  }

  /** Number of scheduled nodes. */
  get size(): number {
    return this.#size;
  }

  /** Schedules `node` to expire at `at` (ms), moving it if it was scheduled already. */
  schedule(node: T, at: number): void {
    if (node.timerSlot >= 0) this.#unlink(node);
    node.timerAt = at;
    let tick = Math.floor(at / this.tickMs);
    // Never behind the wheel: a past deadline fires at the next advance.
    if (tick <= this.#tick) tick = this.#tick + 1;
    const slot = tick & this.#mask;
    const head = this.#slots[slot];
    node.timerPrev = null;
    node.timerNext = head;
    if (head !== null) head.timerPrev = node;
    this.#slots[slot] = node;
    node.timerSlot = slot;
    this.#size++;
  }

  /** Removes `node` if scheduled. */
  cancel(node: T): void {
    if (node.timerSlot >= 0) this.#unlink(node);
  }

  /**
   * Visits every slot whose tick passed by `now` (at most one revolution) and calls `fire` for
   * each node whose time came, after unscheduling it; `fire` may schedule it again. Returns the
   * number fired.
   */
  advance(now: number, fire: (node: T) => void): number {
    const target = Math.floor(now / this.tickMs);
    let fired = 0;
    let from = this.#tick + 1;
    // After a long pause one revolution visits every slot once.
    if (target - from > this.#mask) from = target - this.#mask;
    for (let t = from; t <= target; t++) {
      const slot = t & this.#mask;
      let node = this.#slots[slot];
      if (node === null) continue;
      // Nodes scheduled from here on for this tick or earlier land in the next one.
      this.#tick = t;
      // Detach the whole slot first: `fire` may schedule into it again.
      this.#slots[slot] = null;
      while (node !== null) {
        const next: TimerNode | null = node.timerNext;
        node.timerPrev = null;
        node.timerNext = null;
        node.timerSlot = -1;
        this.#size--;
        if (node.timerAt <= now) {
          fired++;
          fire(node as T);
        } else {
          // A later revolution: back into its slot.
          this.schedule(node as T, node.timerAt);
        }
        node = next;
      }
    }
    if (target > this.#tick) this.#tick = target;
    return fired;
  }

  #unlink(node: TimerNode): void {
    const prev = node.timerPrev;
    const next = node.timerNext;
    if (prev !== null) prev.timerNext = next;
    else this.#slots[node.timerSlot] = next;
    if (next !== null) next.timerPrev = prev;
    node.timerPrev = null;
    node.timerNext = null;
    node.timerSlot = -1;
    this.#size--;
  }
}
