/**
 * CUBIC (RFC 9438), the default: after a loss the window follows
 * W_cubic(t) = C * (t - K)^3 + W_max (4.2, eq. 1) with K = cbrt((W_max - cwnd_epoch) / C)
 * (eq. 2), C = 0.4 and beta_cubic = 0.7; a Reno-friendly estimate W_est (4.3) keeps it at least
 * as fast as Reno at short RTTs; fast convergence (4.7) lowers W_max when the window keeps
 * shrinking. Windows are kept in segments, as in the RFC, and written back in bytes.
 *
 * @module
 */

import {
  type CongestionControl,
  type CongestionWindow,
  INITIAL_SSTHRESH,
  slowStart,
} from "./cc.ts";
import { HyStart, type RoundWindow } from "./hystart.ts";

/** RFC 9438 5: C = 0.4 (segments / s^3). */
export const CUBIC_C = 0.4;
/** RFC 9438 4.6: multiplicative decrease factor 0.7. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 4.3: alpha_cubic = 3 (1 - beta) / (1 + beta), Reno's average rate at beta 0.7. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9438 eq. 1: W_cubic(t) = C (t - K)^3 + W_max, segments; `t` in seconds. */
export function wCubic(t: number, k: number, wMax: number): number {
  const d = t - k;
  return CUBIC_C * d * d * d + wMax;
}

/** RFC 9438 eq. 2: K = cbrt((W_max - cwnd_epoch) / C), seconds (0 when cwnd_epoch >= W_max). */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / CUBIC_C) : 0;
}

/** RFC 9438 CUBIC. */
export class Cubic implements CongestionControl {
  /** Algorithm name. */
  readonly name = "cubic";
  /** W_max: the window, segments, just before the last reduction (0: none yet). */
  wMax = 0;
  /** The previous W_max, for fast convergence (4.7). */
  wLastMax = 0;
  /** cwnd at the last ssthresh setting (cwnd_prior, 4.3), segments. */
  cwndPrior = 0;
  /** K of the current epoch, seconds. */
  k = 0;
  /** Start of the current congestion-avoidance epoch, ms; -1 when none. */
  epochStart = -1;
  /** The Reno-friendly estimate W_est, segments (4.3). */
  wEst = 0;
  /** HyStart++ for the initial slow start (RFC 9406), or null when off. */
  readonly hystart: HyStart | null;

  /** CUBIC, with HyStart++ in its initial slow start unless `hystart` is false. */
  constructor(hystart = true) {
    this.hystart = hystart ? new HyStart() : null;
  }

  /** Slow start below ssthresh; above it, the cubic curve or the Reno-friendly window (4.4). */
  onAck(w: CongestionWindow, acked: number, now: number, rttMs: number): void {
    if (w.cwnd < w.ssthresh) {
      const hs = this.hystart;
      if (
        hs !== null && !hs.done && w.ssthresh === INITIAL_SSTHRESH && w.sndUna !== undefined
      ) {
        hs.onAck(w as RoundWindow, acked);
        return;
      }
      acked = slowStart(w, acked);
      if (acked === 0) return;
    }
    const mss = w.mss;
    let cwnd = w.cwnd / mss;
    if (this.epochStart < 0) {
      // 4.2: a new epoch starts with the first ACK of congestion avoidance.
      this.epochStart = now;
      if (this.wMax < cwnd) {
        // No loss yet, or the window already passed W_max: the plateau is here (K = 0).
        this.wMax = cwnd;
        this.k = 0;
      } else {
        this.k = cubicK(this.wMax, cwnd);
      }
      this.wEst = cwnd;
    }
    const segs = acked / mss;
    const t = (now - this.epochStart) / 1000;
    // 4.3: W_est grows by alpha_cubic per window of ACKs; alpha becomes 1 once past cwnd_prior.
    const alpha = this.cwndPrior > 0 && this.wEst < this.cwndPrior ? CUBIC_ALPHA : 1;
    this.wEst += (alpha * segs) / cwnd;
    const rtt = rttMs > 0 ? rttMs / 1000 : 0;
    if (wCubic(t, this.k, this.wMax) < this.wEst) {
      // 4.3: the Reno-friendly region.
      cwnd = this.wEst;
    } else {
      // 4.4/4.5: aim for W_cubic(t + RTT), clamped to [cwnd, 1.5 cwnd].
      let target = wCubic(t + rtt, this.k, this.wMax);
      if (target < cwnd) target = cwnd;
      else if (target > 1.5 * cwnd) target = 1.5 * cwnd;
      cwnd += ((target - cwnd) / cwnd) * segs;
    }
    const bytes = Math.floor(cwnd * mss);
    if (bytes > w.cwnd) w.cwnd = bytes;
  }

  /** 4.6/4.7: W_max (with fast convergence), ssthresh = beta * cwnd, at least 2 segments. */
  onLoss(w: CongestionWindow, _flight: number, _now: number): void {
    const cwnd = w.cwnd / w.mss;
    // 4.7: a window that shrank since the last loss makes room for new flows sooner.
    this.wMax = cwnd < this.wLastMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.wLastMax = cwnd;
    this.cwndPrior = cwnd;
    const ss = Math.floor(cwnd * CUBIC_BETA * w.mss);
    w.ssthresh = ss > 2 * w.mss ? ss : 2 * w.mss;
    this.epochStart = -1;
  }

  /** 4.8: on a timeout as on a loss, then cwnd = 1 segment and a fresh epoch. */
  onRto(w: CongestionWindow, flight: number, now: number): void {
    this.onLoss(w, flight, now);
    w.cwnd = w.mss;
  }
}
