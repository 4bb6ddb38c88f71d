/**
 * The congestion-control interface. Loss detection and recovery (dupacks, SACK, NewReno partial
 * ACKs, the RTO) live in the connection; an algorithm only decides how the window grows on ACKs
 * and how far it falls on a loss, as Linux's `tcp_congestion_ops` (cong_avoid, ssthresh).
 *
 * @module
 */

import type { RateSample } from "../delivery_rate.ts";

/** The window state an algorithm reads and writes, in bytes. */
export interface CongestionWindow {
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow-start threshold, bytes. */
  ssthresh: number;
  /** Sender maximum segment size, bytes (SMSS). */
  readonly mss: number;
  /** SND.UNA, when the caller tracks rounds (HyStart++). */
  readonly sndUna?: number;
  /** The highest sequence number sent plus one, likewise. */
  readonly sndMax?: number;
  /** The RTT this ACK measured, ms (0: none), likewise. */
  readonly latestRtt?: number;
}

/** ssthresh before any loss: "arbitrarily high" (RFC 5681 3.1). */
export const INITIAL_SSTHRESH = 0x7fffffff;

/** One connection's congestion-control algorithm. */
export interface CongestionControl {
  /** "cubic" or "newreno". */
  readonly name: string;
  /**
   * `acked` bytes were newly acknowledged while not in loss recovery: grow `cwnd` (slow start
   * below ssthresh, congestion avoidance above). `rttMs` is the smoothed RTT (0 if unknown).
   */
  onAck(w: CongestionWindow, acked: number, now: number, rttMs: number): void;
  /**
   * A loss was detected by duplicate ACKs or SACK (RFC 5681 3.2, RFC 6675 5): set `ssthresh`.
   * `flight` is the data outstanding, bytes. The connection sets cwnd for recovery.
   */
  onLoss(w: CongestionWindow, flight: number, now: number): void;
  /** The retransmission timer expired (RFC 5681 3.1): set ssthresh, cwnd = one segment. */
  onRto(w: CongestionWindow, flight: number, now: number): void;
  /**
   * A model-based algorithm (BBR) sets the window itself on every ACK from the ACK's
   * delivery-rate sample (Linux's cong_control): the connection then leaves cwnd alone in
   * recovery (no PRR, no RFC 6582 deflation) and never calls {@link onAck}. `inFlight` is the
   * pipe after the ACK, `delivered` the octets delivered in all, `state` the recovery state.
   */
  /**
   * Set by a model-based algorithm while it holds the sender below what the path could take
   * (BBR's PROBE_RTT): the connection marks its delivery-rate samples application-limited, so
   * the low rates of that time do not lower the bandwidth estimate.
   */
  readonly appLimited?: boolean;
  control?(
    w: CongestionWindow,
    rs: RateSample,
    inFlight: number,
    delivered: number,
    state: CaState,
    now: number,
  ): void;
}

/** Recovery states, as Linux's icsk_ca_state: no recovery. */
export const CA_OPEN = 0;
/** In a fast recovery. */
export const CA_RECOVERY = 1;
/** Recovering from a retransmission timeout. */
export const CA_LOSS = 2;
/** One of the CA_* states. */
export type CaState = typeof CA_OPEN | typeof CA_RECOVERY | typeof CA_LOSS;

/** Names of the algorithms. */
export type CongestionName = "cubic" | "newreno" | "bbr";

/**
 * Slow start (RFC 5681 3.1): cwnd grows by the bytes acknowledged, not beyond ssthresh (the rest
 * of the ACK counts toward congestion avoidance). Returns the bytes left over. Linux counts
 * stretch ACKs in full (no RFC 3465 limit L): receivers that coalesce ACKs would otherwise slow
 * the start down.
 */
export function slowStart(w: CongestionWindow, acked: number): number {
  const room = w.ssthresh - w.cwnd;
  if (acked <= room) {
    w.cwnd += acked;
    return 0;
  }
  w.cwnd += room > 0 ? room : 0;
  return acked - (room > 0 ? room : 0);
}
