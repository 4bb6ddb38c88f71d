/**
 * Time for everything that expires (ARP entries, fragments, connection-table entries, TCP timers).
 * Code reads time only through a {@link Clock}, so tests drive it with a {@link FakeClock} and never
 * sleep.
 *
 * @module
 */

/** A monotonic clock in milliseconds. */
export interface Clock {
  /** Milliseconds since an arbitrary origin; never goes backwards. */
  now(): number;
}

/** The real clock: `performance.now()` (monotonic, sub-millisecond). */
export const systemClock: Clock = {
  now(): number {
    return performance.now();
  },
};

/** A clock that moves only when a test tells it to. */
export class FakeClock implements Clock {
  #now: number;

  /** Starts at `start` milliseconds (default 0). */
  constructor(start = 0) {
    this.#now = start;
  }

  /** The current fake time in milliseconds. */
  now(): number {
    return this.#now;
  }

  /** Moves time forward by `ms` (negative values are refused: the clock is monotonic). */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`FakeClock.advance: ${ms} is not >= 0`);
    this.#now += ms;
  }

  /** Sets the time to `ms`, which must not be earlier than now (the clock is monotonic). */
  set(ms: number): void {
    if (!(ms >= this.#now)) {
      throw new RangeError(`FakeClock.set: ${ms} is earlier than ${this.#now}`);
    }
    this.#now = ms;
  }
}
