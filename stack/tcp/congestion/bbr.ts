/**
 * BBR (version 1: Cardwell et al., "BBR: Congestion-Based Congestion Control", ACM Queue 2016;
 * draft-cardwell-iccrg-bbr-congestion-control-00; Linux's net/ipv4/tcp_bbr.c). A model-based
 * algorithm: it estimates the path's bottleneck bandwidth (the windowed maximum of delivery-rate
 * samples over 10 rounds) and its round-trip propagation time (the minimum RTT over 10 s), and
 * keeps about two bandwidth-delay products in flight. Random loss is not read as congestion, so
 * on a lossy path it keeps the window a loss-based algorithm would collapse (at 2-3% loss CUBIC
 * and Reno stay near the Mathis et al. bound of 1.22 / sqrt(p) segments per RTT).
 *
 * States (4.3): STARTUP doubles the sending rate per round until the bandwidth stops growing by
 * 25% for three rounds; DRAIN empties the queue STARTUP built; PROBE_BW cycles its gain through
 * 1.25, 0.75 and six rounds of 1 to find more bandwidth and give back the queue it made;
 * PROBE_RTT drops to four segments for 200 ms when the minimum RTT is 10 s old, to measure it
 * again. During loss recovery the first round conserves packets (cwnd = in flight + delivered),
 * and the window is restored when recovery ends.
 *
 * This stack does not pace (Linux pairs BBR with pacing, fq or its internal pacer): the pacing
 * gain is used only where it decides state changes; what bounds the sending is the window,
 * cwnd_gain x BDP, released by ACKs, and DRAIN drains with a window of one BDP. Long-term bandwidth sampling for policers (lt_bw) and ACK
 * aggregation compensation (extra_acked) are not implemented.
 *
 * @module
 */

import type { RateSample } from "../delivery_rate.ts";
import {
  CA_OPEN,
  CA_RECOVERY,
  type CaState,
  type CongestionControl,
  type CongestionWindow,
} from "./cc.ts";
import { WindowedMax } from "./windowed_max.ts";

/** 2 / ln 2: the smallest gain that doubles the delivery rate per round (STARTUP). */
export const BBR_HIGH_GAIN = 2 / Math.LN2;
/** DRAIN's pacing gain: the inverse of STARTUP's. */
export const BBR_DRAIN_GAIN = 1 / BBR_HIGH_GAIN;
/** The window as a multiple of the bandwidth-delay product in PROBE_BW. */
export const BBR_CWND_GAIN = 2;
/** PROBE_BW's gain cycle. */
export const BBR_PACING_GAINS = [1.25, 0.75, 1, 1, 1, 1, 1, 1];
/** Rounds the bandwidth maximum is kept (the gain cycle and two more). */
export const BBR_BW_ROUNDS = 10;
/** How long a minimum RTT stands, ms. */
export const BBR_MIN_RTT_WINDOW_MS = 10_000;
/** How long PROBE_RTT holds the small window, ms. */
export const BBR_PROBE_RTT_MS = 200;
/** The smallest window, segments. */
export const BBR_MIN_CWND_SEGMENTS = 4;

/** BBR's states. */
export const STARTUP = 0;
export const DRAIN = 1;
export const PROBE_BW = 2;
export const PROBE_RTT = 3;

/** The window before any RTT sample: the initial window of RFC 6928, segments. */
const INITIAL_WINDOW_SEGMENTS = 10;

/** BBR v1 for one connection. */
export class Bbr implements CongestionControl {
  /** Algorithm name. */
  readonly name = "bbr";
  /** STARTUP, DRAIN, PROBE_BW or PROBE_RTT. */
  mode = STARTUP;
  /** Bottleneck bandwidth estimate, octets/ms (windowed maximum over rounds). */
  readonly bw = new WindowedMax();
  /** Round-trip propagation estimate, ms (Infinity before a sample). */
  minRtt = Infinity;
  /** When `minRtt` was taken, ms. */
  minRttAt = 0;
  /** Rounds counted (a round ends when a segment sent after its start is delivered). */
  rounds = 0;
  /** The delivered count that ends the current round. */
  nextRoundDelivered = 0;
  /** The ACK being processed started a round. */
  roundStart = false;
  /** Current gains. */
  pacingGain = BBR_HIGH_GAIN;
  cwndGain = BBR_HIGH_GAIN;
  /** STARTUP's bandwidth plateau detection. */
  fullBw = 0;
  fullBwCount = 0;
  fullBwReached = false;
  /** PROBE_BW's position in the gain cycle and when it began, ms. */
  cycleIndex = 0;
  cycleStart = 0;
  /** PROBE_RTT's end (0 until the flight has drained to the small window) and its round. */
  probeRttDoneAt = 0;
  probeRttRoundDone = false;
  /** The window before a recovery or PROBE_RTT, restored after it. */
  priorCwnd = 0;
  /** Packet conservation during the first round of a recovery. */
  packetConservation = false;
  /** The recovery state at the previous ACK. */
  prevState: CaState = CA_OPEN;
  /** A pseudo-random source for the gain cycle's starting phase (tests may replace it). */
  random: () => number = Math.random;

  /** PROBE_RTT's small window is not the path's rate (tcp_bbr.c marks it app-limited too). */
  get appLimited(): boolean {
    return this.mode === PROBE_RTT;
  }

  /** Loss-based growth is not BBR's: everything happens in {@link control}. */
  onAck(_w: CongestionWindow, _acked: number, _now: number, _rttMs: number): void {}

  /** A fast recovery begins: remember the window (ssthresh stays "infinite", as Linux's). */
  onLoss(w: CongestionWindow, _flight: number, _now: number): void {
    this.#saveCwnd(w);
  }

  /**
   * A retransmission timeout: remember the window, one segment now (RFC 5681's loss window;
   * Linux's tcp_enter_loss), and restart the STARTUP plateau detection.
   */
  onRto(w: CongestionWindow, _flight: number, _now: number): void {
    this.#saveCwnd(w);
    w.cwnd = w.mss;
    this.fullBw = 0;
    this.roundStart = true;
  }

  /**
   * One ACK's model update and window (tcp_bbr.c bbr_main): `rs` is its delivery-rate sample,
   * `inFlight` the pipe after it, `delivered` the connection's delivered count, `state` the
   * recovery state.
   */
  control(
    w: CongestionWindow,
    rs: RateSample,
    inFlight: number,
    delivered: number,
    state: CaState,
    now: number,
  ): void {
    this.#updateBw(rs, delivered);
    this.#updateCyclePhase(w, rs, now);
    this.#checkFullBw(rs);
    this.#checkDrain(w, inFlight, now);
    this.#updateMinRtt(w, rs, inFlight, delivered, now);
    this.#updateGains();
    this.#setCwnd(w, rs, inFlight, delivered, state);
  }

  /** The bandwidth-delay product times `gain`, octets (the initial window before an RTT). */
  bdp(gain: number, mss: number): number {
    if (this.minRtt === Infinity) return INITIAL_WINDOW_SEGMENTS * mss;
    return Math.ceil(this.bw.value * this.minRtt * gain);
  }

  /** The window for `gain`: BDP plus room for the segments delayed ACKs and offloads hold. */
  #target(gain: number, mss: number): number {
    let t = this.bdp(gain, mss) + 3 * mss;
    if (this.mode === PROBE_BW && this.cycleIndex === 0) t += 2 * mss;
    return t;
  }

  #updateBw(rs: RateSample, delivered: number): void {
    this.roundStart = false;
    if (rs.priorDelivered < 0) return;
    if (rs.priorDelivered >= this.nextRoundDelivered) {
      this.nextRoundDelivered = delivered;
      this.rounds++;
      this.roundStart = true;
      this.packetConservation = false;
    }
    if (rs.interval <= 0 || rs.delivered <= 0) return;
    const bw = rs.delivered / rs.interval;
    // An application-limited sample is a lower bound: it counts only if it raises the maximum.
    if (!rs.appLimited || bw >= this.bw.value) this.bw.update(BBR_BW_ROUNDS, this.rounds, bw);
  }

  #updateCyclePhase(w: CongestionWindow, rs: RateSample, now: number): void {
    if (this.mode !== PROBE_BW) return;
    const full = now - this.cycleStart > this.minRtt;
    const g = this.pacingGain;
    let next: boolean;
    if (g === 1) {
      next = full;
    } else if (g > 1) {
      // Probing: until the pipe holds gain x BDP, or a loss says there is no more room.
      next = full && (rs.losses > 0 || rs.priorInFlight >= this.#target(g, w.mss));
    } else {
      // Draining the probe's queue: until the pipe is down to one BDP.
      next = full || rs.priorInFlight <= this.#target(1, w.mss);
    }
    if (next) this.#advanceCycle(now);
  }

  #advanceCycle(now: number): void {
    this.cycleIndex = (this.cycleIndex + 1) % BBR_PACING_GAINS.length;
    this.cycleStart = now;
  }

  #checkFullBw(rs: RateSample): void {
    if (this.fullBwReached || !this.roundStart || rs.appLimited) return;
    const bw = this.bw.value;
    if (bw >= this.fullBw * 1.25) {
      this.fullBw = bw;
      this.fullBwCount = 0;
      return;
    }
    if (++this.fullBwCount >= 3) this.fullBwReached = true;
  }

  #checkDrain(w: CongestionWindow, inFlight: number, now: number): void {
    if (this.mode === STARTUP && this.fullBwReached) this.mode = DRAIN;
    if (this.mode === DRAIN && inFlight <= this.#target(1, w.mss)) this.#enterProbeBw(now);
  }

  #enterProbeBw(now: number): void {
    this.mode = PROBE_BW;
    // A random phase other than the probing one (tcp_bbr.c: bbr_cycle_rand).
    this.cycleIndex = BBR_PACING_GAINS.length - 1 - Math.floor(this.random() * 7);
    this.#advanceCycle(now);
  }

  #updateMinRtt(
    w: CongestionWindow,
    rs: RateSample,
    inFlight: number,
    delivered: number,
    now: number,
  ): void {
    // Only a minimum that was measured can grow old (the first sample is not "expired").
    const expired = this.minRtt !== Infinity && now - this.minRttAt > BBR_MIN_RTT_WINDOW_MS;
    if (rs.rtt >= 0 && (rs.rtt < this.minRtt || expired)) {
      this.minRtt = rs.rtt > 0.01 ? rs.rtt : 0.01;
      this.minRttAt = now;
    }
    if (expired && this.mode !== PROBE_RTT && this.minRtt !== Infinity) {
      this.mode = PROBE_RTT;
      this.#saveCwnd(w);
      this.probeRttDoneAt = 0;
    }
    if (this.mode !== PROBE_RTT) return;
    if (this.probeRttDoneAt === 0 && inFlight <= BBR_MIN_CWND_SEGMENTS * w.mss) {
      this.probeRttDoneAt = now + BBR_PROBE_RTT_MS;
      this.probeRttRoundDone = false;
      this.nextRoundDelivered = delivered;
    } else if (this.probeRttDoneAt !== 0) {
      if (this.roundStart) this.probeRttRoundDone = true;
      if (this.probeRttRoundDone && now > this.probeRttDoneAt) {
        this.minRttAt = now;
        if (this.priorCwnd > w.cwnd) w.cwnd = this.priorCwnd;
        if (this.fullBwReached) this.#enterProbeBw(now);
        else this.mode = STARTUP;
      }
    }
  }

  #updateGains(): void {
    switch (this.mode) {
      case STARTUP:
        this.pacingGain = BBR_HIGH_GAIN;
        this.cwndGain = BBR_HIGH_GAIN;
        break;
      case DRAIN:
        // Linux keeps the high cwnd gain and drains by pacing at 1 / 2.89; without pacing the
        // window must do it: one BDP, so the queue STARTUP built empties within a round.
        this.pacingGain = BBR_DRAIN_GAIN;
        this.cwndGain = 1;
        break;
      case PROBE_BW:
        this.pacingGain = BBR_PACING_GAINS[this.cycleIndex];
        this.cwndGain = BBR_CWND_GAIN;
        break;
      default:
        this.pacingGain = 1;
        this.cwndGain = 1;
    }
  }

  #saveCwnd(w: CongestionWindow): void {
    if (this.prevState === CA_OPEN && this.mode !== PROBE_RTT) this.priorCwnd = w.cwnd;
    else if (w.cwnd > this.priorCwnd) this.priorCwnd = w.cwnd;
  }

  /** tcp_bbr.c bbr_set_cwnd with bbr_set_cwnd_to_recover_or_restore. */
  #setCwnd(
    w: CongestionWindow,
    rs: RateSample,
    inFlight: number,
    delivered: number,
    state: CaState,
  ): void {
    const mss = w.mss;
    const acked = rs.ackedSacked;
    let cwnd = w.cwnd;
    if (acked > 0) {
      if (rs.losses > 0) cwnd = cwnd - rs.losses > mss ? cwnd - rs.losses : mss;
      let conserve = false;
      if (state === CA_RECOVERY && this.prevState !== CA_RECOVERY) {
        // The first round of a recovery: send one segment per segment delivered.
        this.packetConservation = true;
        this.nextRoundDelivered = delivered;
        cwnd = inFlight + acked;
      } else if (this.prevState !== CA_OPEN && state === CA_OPEN) {
        if (this.priorCwnd > cwnd) cwnd = this.priorCwnd;
        this.packetConservation = false;
      }
      if (this.packetConservation) {
        conserve = true;
        if (inFlight + acked > cwnd) cwnd = inFlight + acked;
      }
      if (!conserve) {
        const target = this.#target(this.cwndGain, mss);
        if (this.fullBwReached) {
          cwnd = cwnd + acked < target ? cwnd + acked : target;
        } else if (cwnd < target || delivered < INITIAL_WINDOW_SEGMENTS * mss) {
          cwnd += acked;
        }
        if (cwnd < BBR_MIN_CWND_SEGMENTS * mss) cwnd = BBR_MIN_CWND_SEGMENTS * mss;
      }
    }
    this.prevState = state;
    if (this.mode === PROBE_RTT && cwnd > BBR_MIN_CWND_SEGMENTS * mss) {
      cwnd = BBR_MIN_CWND_SEGMENTS * mss;
    }
    w.cwnd = Math.floor(cwnd);
  }
}
