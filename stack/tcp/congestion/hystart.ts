/**
 * HyStart++ (RFC 9406): leaves the initial slow start when the round-trip time starts to grow
 * (a queue is building) instead of at the first loss, which at the end of an exponential start
 * is often a burst of them. Per round of data (4.2): the minimum RTT of at least N_RTT_SAMPLE
 * ACKs is compared with the previous round's; a rise of RttThresh moves to Conservative Slow
 * Start (CSS: a quarter of slow start's growth), which either proves the rise spurious (the RTT
 * falls back: slow start again) or lasts CSS_ROUNDS rounds and ends in congestion avoidance.
 * Used only for the initial slow start (4.3: after a loss or timeout, standard slow start).
 *
 * @module
 */

import { seqGeq } from "../../wire/seq.ts";
import type { CongestionWindow } from "./cc.ts";

/** RFC 9406 4.3 constants (ms where a time). */
export const MIN_RTT_THRESH = 4;
export const MAX_RTT_THRESH = 16;
export const MIN_RTT_DIVISOR = 8;
export const N_RTT_SAMPLE = 8;
export const CSS_GROWTH_DIVISOR = 4;
export const CSS_ROUNDS = 5;
/** L: the most one ACK grows the window by, segments (8 for a sender without pacing). */
export const L_SEGMENTS = 8;

/** The window and the sequence space one algorithm step reads. */
export interface RoundWindow extends CongestionWindow {
  /** SND.UNA after the ACK. */
  readonly sndUna: number;
  /** The highest sequence number sent plus one (a round ends when it is acknowledged). */
  readonly sndMax: number;
  /** The RTT measured by this ACK, ms (0: none). */
  readonly latestRtt: number;
}

/** One connection's HyStart++ state. */
export class HyStart {
  /** In Conservative Slow Start. */
  inCss = false;
  /** Rounds spent in CSS. */
  cssRounds = 0;
  /** cssBaselineMinRtt, ms. */
  baseline = Infinity;
  /** lastRoundMinRTT, ms. */
  lastRoundMinRtt = Infinity;
  /** currentRoundMinRTT, ms. */
  currentRoundMinRtt = Infinity;
  /** rttSampleCount of the current round. */
  samples = 0;
  /** windowEnd: the round ends when SND.UNA reaches it; -1 before the first round. */
  windowEnd = -1;
  /** Times CSS was entered (a rise of the RTT was seen). */
  cssEntries = 0;
  /** True once HyStart++ ended slow start (ssthresh set from CSS). */
  done = false;

  /**
   * One ACK of `acked` new octets in the initial slow start: grows `w.cwnd` (slow start or CSS)
   * and ends slow start after CSS_ROUNDS rounds of CSS (ssthresh = cwnd).
   */
  onAck(w: RoundWindow, acked: number): void {
    if (this.windowEnd === -1 || seqGeq(w.sndUna, this.windowEnd)) {
      // 4.2: a new round begins.
      if (this.windowEnd !== -1 && this.inCss && ++this.cssRounds >= CSS_ROUNDS) {
        w.ssthresh = w.cwnd;
        this.done = true;
        return;
      }
      this.windowEnd = w.sndMax;
      this.lastRoundMinRtt = this.currentRoundMinRtt;
      this.currentRoundMinRtt = Infinity;
      this.samples = 0;
    }
    if (w.latestRtt > 0) {
      if (w.latestRtt < this.currentRoundMinRtt) this.currentRoundMinRtt = w.latestRtt;
      this.samples++;
    }
    const cap = L_SEGMENTS * w.mss;
    const inc = acked < cap ? acked : cap;
    if (!this.inCss) {
      w.cwnd += inc;
      if (
        this.samples >= N_RTT_SAMPLE && this.currentRoundMinRtt !== Infinity &&
        this.lastRoundMinRtt !== Infinity
      ) {
        let thresh = this.lastRoundMinRtt / MIN_RTT_DIVISOR;
        if (thresh > MAX_RTT_THRESH) thresh = MAX_RTT_THRESH;
        if (thresh < MIN_RTT_THRESH) thresh = MIN_RTT_THRESH;
        if (this.currentRoundMinRtt >= this.lastRoundMinRtt + thresh) {
          this.inCss = true;
          this.cssRounds = 0;
          this.baseline = this.currentRoundMinRtt;
          this.cssEntries++;
        }
      }
    } else {
      w.cwnd += Math.floor(inc / CSS_GROWTH_DIVISOR);
      if (this.samples >= N_RTT_SAMPLE && this.currentRoundMinRtt < this.baseline) {
        // The RTT fell back below the baseline: the rise was not a queue. Slow start again.
        this.inCss = false;
        this.baseline = Infinity;
      }
    }
  }
}
