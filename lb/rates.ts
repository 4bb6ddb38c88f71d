/**
 * Rates like `ipvsadm -L -n --rate` (CPS, InPPS, OutPPS, InBPS, OutBPS), estimated the way the
 * kernel does (net/netfilter/ipvs/ip_vs_est.c): every 2 s the counters' increase over the period
 * gives a per-second rate, and each estimate moves a quarter of the way toward it
 * (`avg += (rate - avg) >> 2`), an exponentially weighted average with a time constant of about
 * 8 s. Sampling runs on the stack's tick; time comes from the stack's {@link Clock} so tests use
 * a FakeClock. Control-path code: it allocates only when a service or server first appears.
 *
 * @module
 */

import type { Clock } from "../stack/clock.ts";
import type { BalancerSnapshot } from "./balancer.ts";
import type { VirtualService } from "./service.ts";

/** The counters a rate is estimated from (a VirtualService or a RealServer has them). */
export interface RateCounters {
  conns: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/** Smoothed per-second rates. */
export interface Rates {
  /** New flows per second. */
  cps: number;
  /** Packets per second, client to server. */
  inPps: number;
  /** Packets per second, server to client (NAT only). */
  outPps: number;
  /** Bytes per second, client to server. */
  inBps: number;
  /** Bytes per second, server to client (NAT only). */
  outBps: number;
}

/** The kernel estimator's period (ip_vs_est.c: `IPVS_EST_TICK` 2 s). */
export const RATE_PERIOD_MS = 2000;

/** One counter set's state: last values and the averages (Float64Array: no boxing). */
interface Est {
  last: Float64Array; // conns, packetsIn, packetsOut, bytesIn, bytesOut
  avg: Float64Array;
}

function read(c: RateCounters, out: Float64Array): void {
  out[0] = c.conns;
  out[1] = c.packetsIn;
  out[2] = c.packetsOut;
  out[3] = c.bytesIn;
  out[4] = c.bytesOut;
}

/** Estimates rates for any number of counter sets. */
export class RateEstimator {
  readonly #clock: Clock;
  readonly #periodMs: number;
  readonly #ests = new WeakMap<RateCounters, Est>();
  readonly #now = new Float64Array(5);
  #lastSample: number;

  /** An estimator sampling every `periodMs` (default 2000, the kernel's). */
  constructor(clock: Clock, periodMs = RATE_PERIOD_MS) {
    if (!(periodMs > 0)) throw new RangeError(`period ${periodMs} ms is not > 0`);
    this.#clock = clock;
    this.#periodMs = periodMs;
    this.#lastSample = clock.now();
  }

  /**
   * Samples `items` when a period has passed since the last sample (call it on every tick);
   * returns true when it sampled. A counter set seen for the first time is taken to have
   * counted from 0 since the last sample; one whose counters went down (ipvsadm -Z) counts that
   * period as 0.
   */
  maybeSample(items: Iterable<RateCounters>): boolean {
    const now = this.#clock.now();
    const elapsed = now - this.#lastSample;
    if (elapsed < this.#periodMs) return false;
    this.#lastSample = now;
    const cur = this.#now;
    for (const item of items) {
      read(item, cur);
      let e = this.#ests.get(item);
      if (e === undefined) {
        // Counters start at 0 when a service or server is created: what it counted since the
        // last sample is this period's traffic (the kernel starts its estimator at creation).
        e = { last: new Float64Array(5), avg: new Float64Array(5) };
        this.#ests.set(item, e);
      }
      for (let i = 0; i < 5; i++) {
        const delta = cur[i] - e.last[i];
        // A counter that went backwards was zeroed: this period has no meaningful rate.
        const rate = delta < 0 ? 0 : (delta * 1000) / elapsed;
        e.avg[i] += (rate - e.avg[i]) / 4;
        e.last[i] = cur[i];
      }
    }
    return true;
  }

  /** The current estimates for `item` (zeros before its second sample). */
  rates(item: RateCounters): Rates {
    const a = this.#ests.get(item)?.avg;
    if (a === undefined) return { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
    return {
      cps: Math.round(a[0]),
      inPps: Math.round(a[1]),
      outPps: Math.round(a[2]),
      inBps: Math.round(a[3]),
      outBps: Math.round(a[4]),
    };
  }
}

/** Every service and real server of `services`, the sets a balancer's estimator samples. */
export function* rateItems(services: readonly VirtualService[]): Generator<RateCounters> {
  for (const s of services) {
    yield s;
    for (const r of s.reals) yield r;
  }
}

/**
 * Adds `rates` to each service and real server of `snap`, which must have been taken from
 * `services` just now (same order: `Balancer.snapshot()` lists them in order).
 */
export function withRates<T extends BalancerSnapshot>(
  snap: T,
  services: readonly VirtualService[],
  estimator: RateEstimator,
): T {
  snap.services.forEach((ss, i) => {
    const s = services[i];
    if (s === undefined) return;
    ss.rates = estimator.rates(s);
    ss.reals.forEach((rs, j) => {
      const r = s.reals[j];
      if (r !== undefined) rs.rates = estimator.rates(r);
    });
  });
  return snap;
}
