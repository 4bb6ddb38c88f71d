/**
 * A token bucket for rate-limiting ICMP errors (RFC 1812 4.3.2.8; RFC 1122 3.2.2 asks hosts to
 * limit them too). Linux's defaults are a burst of 50 and 1000 messages per second
 * (`icmp_msgs_burst`, `icmp_msgs_per_sec`).
 *
 * @module
 */

import type { Clock } from "../clock.ts";

/** Tokens refill continuously at `ratePerSec` up to `burst`; each message takes one. */
export class TokenBucket {
  readonly #clock: Clock;
  readonly #ratePerMs: number;
  readonly #burst: number;
  #tokens: number;
  #last: number;

  /** A full bucket of `burst` tokens refilled at `ratePerSec`. */
  constructor(clock: Clock, ratePerSec: number, burst: number) {
    this.#clock = clock;
    this.#ratePerMs = ratePerSec / 1000;
    this.#burst = burst;
    this.#tokens = burst;
    this.#last = clock.now();
  }

  /** Takes a token if one is there: true means the message may be sent. */
  take(): boolean {
    const now = this.#clock.now();
    const elapsed = now - this.#last;
    this.#last = now;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerMs);
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }

  /** Tokens left after the last `take()` (fractional; refilling happens in `take()`). */
  get tokens(): number {
    return this.#tokens;
  }
}
