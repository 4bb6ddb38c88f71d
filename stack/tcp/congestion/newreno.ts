/**
 * Reno/NewReno window growth and reduction (RFC 5681 3.1, 3.2; the NewReno recovery of RFC 6582
 * is in the connection's loss recovery): slow start, congestion avoidance by appropriate byte
 * counting (RFC 3465: one SMSS per cwnd of data acknowledged), ssthresh = max(FlightSize / 2,
 * 2 SMSS) on a loss (RFC 5681 eq. 4), one segment after a timeout.
 *
 * @module
 */

import { type CongestionControl, type CongestionWindow, slowStart } from "./cc.ts";

/** RFC 5681 NewReno. */
export class NewReno implements CongestionControl {
  /** Algorithm name. */
  readonly name = "newreno";
  /** Bytes acknowledged in congestion avoidance not yet turned into window. */
  bytesAcked = 0;

  /** RFC 5681 3.1: slow start below ssthresh, else +1 SMSS per cwnd acknowledged. */
  onAck(w: CongestionWindow, acked: number, _now: number, _rttMs: number): void {
    if (w.cwnd < w.ssthresh) {
      acked = slowStart(w, acked);
      if (acked === 0) return;
    }
    this.bytesAcked += acked;
    if (this.bytesAcked >= w.cwnd) {
      this.bytesAcked -= w.cwnd;
      w.cwnd += w.mss;
    }
  }

  /** RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS). */
  onLoss(w: CongestionWindow, flight: number, _now: number): void {
    const half = Math.floor(flight / 2);
    w.ssthresh = half > 2 * w.mss ? half : 2 * w.mss;
    this.bytesAcked = 0;
  }

  /** RFC 5681 3.1: ssthresh as on a loss, cwnd = the loss window (1 SMSS). */
  onRto(w: CongestionWindow, flight: number, now: number): void {
    this.onLoss(w, flight, now);
    w.cwnd = w.mss;
  }
}
