/**
 * The retransmission timeout of RFC 6298: SRTT and RTTVAR from RTT samples (2.2, 2.3), the RTO
 * bounds (2.4, 2.5, with the minimum configurable: Linux uses 200 ms where the RFC says 1 s),
 * exponential backoff on expiry (5.5) and Karn's rule (3: the caller takes no sample from a
 * retransmitted segment unless timestamps tell the transmissions apart, RFC 7323 4).
 *
 * @module
 */

/** RFC 6298 2: alpha = 1/8. */
export const RTT_ALPHA = 1 / 8;
/** RFC 6298 2: beta = 1/4. */
export const RTT_BETA = 1 / 4;
/** RFC 6298 2: K = 4. */
export const RTT_K = 4;

/** Bounds and start value of the timeout, in milliseconds. */
export interface RtoOptions {
  /** Lower bound (RFC 6298 2.4 says 1000 ms; Linux uses 200 ms). Default 200. */
  minRtoMs?: number;
  /** Upper bound (RFC 6298 2.5: at least 60 s). Default 120000, Linux's TCP_RTO_MAX. */
  maxRtoMs?: number;
  /** The RTO before any sample (RFC 6298 2.1). Default 1000. */
  initialRtoMs?: number;
  /** Clock granularity G (RFC 6298 2.3). Default 1 ms. */
  granularityMs?: number;
}

/** One connection's RTT estimator and retransmission timeout. */
export class RttEstimator {
  /** Smoothed round-trip time, ms (0 before the first sample). */
  srtt = 0;
  /** Round-trip time variation, ms. */
  rttvar = 0;
  /** Number of samples taken. */
  samples = 0;
  /** Times the timer expired since the last valid sample (the backoff exponent). */
  backoff = 0;
  readonly #min: number;
  readonly #max: number;
  readonly #g: number;
  #base: number;

  /** An estimator with no samples: RTO = the initial value (RFC 6298 2.1). */
  constructor(options: RtoOptions = {}) {
    this.#min = options.minRtoMs ?? 200;
    this.#max = options.maxRtoMs ?? 120_000;
    this.#g = options.granularityMs ?? 1;
    this.#base = clamp(options.initialRtoMs ?? 1000, this.#min, this.#max);
  }

  /** The timeout before backoff, ms (RFC 6298 2.2/2.3 with the 2.4/2.5 bounds). */
  get baseRto(): number {
    return this.#base;
  }

  /** The timeout to arm now: the base doubled per expiry (RFC 6298 5.5), at most the maximum. */
  get rto(): number {
    const r = this.#base * 2 ** this.backoff;
    return r < this.#max ? r : this.#max;
  }

  /**
   * Takes one RTT measurement `r` (ms). The first sets SRTT = R, RTTVAR = R/2 (2.2); later ones
   * RTTVAR = (1 - beta) RTTVAR + beta |SRTT - R'| then SRTT = (1 - alpha) SRTT + alpha R' (2.3).
   * `expectedSamples` > 1 scales alpha and beta down for timestamp sampling of every ACK
   * (RFC 7323 appendix G). A valid sample ends the backoff (Karn, RFC 6298 5.7 note).
   */
  sample(r: number, expectedSamples = 1): void {
    if (!(r >= 0)) return;
    if (this.samples === 0) {
      this.srtt = r;
      this.rttvar = r / 2;
    } else {
      const a = RTT_ALPHA / expectedSamples;
      const b = RTT_BETA / expectedSamples;
      const err = this.srtt - r;
      this.rttvar = (1 - b) * this.rttvar + b * (err < 0 ? -err : err);
      this.srtt = (1 - a) * this.srtt + a * r;
    }
    this.samples++;
    this.backoff = 0;
    const v = RTT_K * this.rttvar;
    this.#base = clamp(this.srtt + (v > this.#g ? v : this.#g), this.#min, this.#max);
  }

  /**
   * Starts again from `rtoMs` with no backoff and no samples (RFC 6298 5.7's 3 s after a SYN
   * timeout; the first sample then sets SRTT and RTTVAR as 2.2 says).
   */
  fallback(rtoMs: number): void {
    this.#base = clamp(rtoMs, this.#min, this.#max);
    this.backoff = 0;
  }

  /** The timer expired: double the timeout (RFC 6298 5.5). */
  expired(): void {
    if (this.rto < this.#max) this.backoff++;
  }

  /**
   * After several backoffs the estimate may be stale: RFC 6298 5.7 allows clearing SRTT/RTTVAR
   * so the next sample restarts them, keeping the backed-off RTO until then.
   */
  reset(): void {
    this.#base = this.rto;
    this.backoff = 0;
    this.samples = 0;
    this.srtt = 0;
    this.rttvar = 0;
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}
