/**
 * The stack's clock, read at most once per received frame, and readable without allocating.
 *
 * A forwarded packet asks for the time several times: the connection table checks the flow's
 * deadline and re-arms it, the ARP cache marks the next hop used. `performance.now()` costs about
 * 75 ns in Deno (an op into Rust, then `clock_gettime`), so three reads were ~225 ns of a packet
 * whose whole userspace forwarding work is ~150 ns (docs/BENCHMARKS.md). While a frame is being
 * handled, every reader gets the time of the first read in that frame, as the kernel's receive
 * path reads one timestamp (jiffies, `skb->tstamp`) per packet. Outside a frame (timers, the
 * application side, the control socket) every read reads the source.
 *
 * Nothing in the stack moves a clock during the synchronous handling of one frame (a
 * `FakeClock` moves only when a test tells it to), so the time a reader sees is the time it
 * would have read, give or take the microseconds the frame takes.
 *
 * Allocation: a float returned by a call V8 does not inline is boxed in a fresh heap number, and
 * whether `now()` is inlined into a large caller depends on V8's inlining budget (profiled: one
 * 16-byte number per forwarded packet in some runs, under Maglev). Per-packet readers therefore
 * use the allocation-free form, which passes the time through memory:
 *
 * ```ts
 * if (!clock.fresh) clock.read();
 * const now = clock.time[0];
 * ```
 *
 * @module
 */

import type { Clock } from "../clock.ts";

/** A {@link Clock} over `source` that holds one reading for the duration of each frame. */
export class FrameClock implements Clock {
  /**
   * `time[0]`: the latest reading in milliseconds. Current only when {@link fresh} is true or
   * right after {@link read}; written by the clock alone.
   */
  readonly time: Float64Array = new Float64Array(1);
  readonly #source: Clock;
  /** True between beginFrame() and endFrame(). */
  #inFrame = false;
  /** True while `time[0]` is the current frame's reading (inside a frame, after a read). */
  #fresh = false;

  /** A frame clock over `source` (the system clock, or a test's `FakeClock`). */
  constructor(source: Clock) {
    this.#source = source;
  }

  /** The clock it reads. */
  get source(): Clock {
    return this.#source;
  }

  /** True when `time[0]` may be used as is (this frame's reading); else call {@link read}. */
  get fresh(): boolean {
    return this.#fresh;
  }

  /** Within a frame: the frame's reading (made on first use). Outside one: the source now. */
  now(): number {
    if (!this.#fresh) this.read();
    return this.time[0];
  }

  /**
   * Reads the source into `time[0]` (stored, not returned: see the module comment). Within a
   * frame the reading then stays until the frame ends.
   */
  read(): void {
    this.time[0] = this.#source.now();
    this.#fresh = this.#inFrame;
  }

  /**
   * Marks the start of a received frame's handling: the next reader reads the source. Frames do
   * not nest (a nested call just starts a fresh reading).
   */
  beginFrame(): void {
    this.#inFrame = true;
    this.#fresh = false;
  }

  /**
   * Marks its end. The receive loop also calls it when a frame's handling threw, so a frame
   * never outlives its handling (no try/finally on the per-frame path).
   */
  endFrame(): void {
    this.#inFrame = false;
    this.#fresh = false;
  }
}

/**
 * `clock` itself when it is a {@link FrameClock} (a stack's), else a frame clock over it that is
 * never in a frame, so every read reads `clock`: readers take the allocation-free form either way.
 */
export function frameClockOf(clock: Clock): FrameClock {
  return clock instanceof FrameClock ? clock : new FrameClock(clock);
}
