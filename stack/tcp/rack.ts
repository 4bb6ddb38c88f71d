/**
 * RACK-TLP loss detection (RFC 8985), on SACK connections. A segment is lost when a segment
 * sent after it was delivered (SACKed or cumulatively acknowledged) and more than one RTT plus
 * a reordering window has passed since it was sent (6.2); time, not a count of duplicate ACKs,
 * so reordering shorter than the window is not taken for a loss, a lost retransmission is found
 * like any other loss, and a single hole does not wait for three duplicate ACKs. The window is
 * min_RTT / 4, zero during recovery until reordering is seen, and widened by each round that
 * brings a DSACK (RFC 2883: the receiver got a segment twice, so a retransmission was not
 * needed), back to one quarter after 16 recoveries without one (6.2 step 4).
 *
 * Tail loss probes (7): when nothing is left to send and the last segments or their ACKs are
 * lost, no ACK will come to drive RACK; instead of the retransmission timeout, a probe timeout of
 * two smoothed RTTs sends one segment (new data, or the last one again) to provoke the ACK that
 * shows the loss. A probe that repaired a loss (acknowledged, no DSACK for it) reduces the window
 * once, as a fast recovery would (7.4).
 *
 * The per-segment times live in sent_segments.ts, with each transmission's number in the order
 * of sending, which RACK_sent_after compares (exact where a millisecond clock ties); the same
 * record gives BBR its delivery-rate samples (delivery_rate.ts). Where Linux differs from the
 * RFC text, this
 * follows Linux (net/ipv4/tcp_recovery.c, tcp_input.c): RACK.rtt is taken together with
 * RACK.xmit_ts from the most recently sent delivered segment; the reordering window is not
 * zeroed by SACKed segments before `reordering` (tp->reordering) of them.
 *
 * @module
 */

import { seqGeq, seqGt, seqLt } from "../wire/seq.ts";
import { DeliveryRate } from "./delivery_rate.ts";
import {
  SEG_EVER_RETRANS,
  SEG_LOST,
  SEG_RETRANS,
  SEG_SACKED,
  sentAfter,
  SentSegments,
} from "./sent_segments.ts";

/** RFC 8985 6.2 step 4: recoveries a widened reordering window persists for. */
export const REO_WND_PERSIST = 16;
/** RFC 8985 7.2: the worst-case delayed-ACK time added to a probe of a single segment, ms. */
export const WC_DEL_ACK_MS = 200;
/** Largest reordering-window multiplier (the window never exceeds SRTT anyway). */
const MAX_REO_WND_MULT = 64;
/** How long a min_RTT sample stands before a larger one may replace it, ms (Linux: 300 s). */
const MIN_RTT_WINDOW_MS = 300_000;

/** One connection's RACK-TLP state. */
export class Rack {
  /** What was sent and not cumulatively acknowledged, with times and flags. */
  readonly segs = new SentSegments();
  /** Delivery-rate samples from the same record (delivery_rate.ts). */
  readonly rate = new DeliveryRate();
  /** Rate samples are taken (the congestion control reads them: BBR); else not computed. */
  rateOn = false;
  /** RACK.xmit_ts: send time of the most recently sent segment known delivered; -1 none. */
  xmitTs = -1;
  /** That segment's transmission number (sent_segments.ts `order`): what "sent after" compares. */
  xmitOrder = 0;
  /** RACK.end_seq: that segment's end (ties of xmit_ts are broken by sequence). */
  endSeq = 0;
  /** RACK.rtt: the RTT measured on that segment, ms. */
  rtt = 0;
  /** RACK.fack: the highest sequence number delivered so far. */
  fack = 0;
  /** RACK.min_RTT, ms (Infinity before the first sample). */
  minRtt = Infinity;
  /** When `minRtt` was taken. */
  minRttAt = 0;
  /** RACK.reo_wnd_mult. */
  reoWndMult = 1;
  /** RACK.reo_wnd_persist: recoveries left before the multiplier resets. */
  reoWndPersist = 0;
  /** RACK.dsack_round: SND.NXT when the last widening DSACK came; -1 outside such a round. */
  dsackRound = -1;
  /** RACK.reordering_seen: a segment not retransmitted was delivered below RACK.fack. */
  reorderingSeen = false;
  /** TLP.end_seq while a probe is outstanding; -1 none. */
  tlpEnd = -1;
  /** TLP.is_retrans: the probe was a retransmission. */
  tlpRetrans = false;
  /** The TSval echoed by the ACK being processed (0: none): the ambiguity test of 6.2. */
  ackTsEcr = 0;
  /** The connection's timestamp clock offset (our TSval = ms + offset). */
  tsOffset = 0;
  /** The time of the ACK being processed. */
  #now = 0;
  /** Bound once: the visitor of cumulatively acknowledged records. */
  readonly #onAcked = (i: number, len: number): void => {
    if ((this.segs.flags[i] & SEG_SACKED) === 0) this.#delivered(i, len, true);
  };

  /** An RTT sample from the estimator (RFC 6298 measurements): keeps RACK.min_RTT. */
  rttSample(r: number, now: number): void {
    if (r < this.minRtt || now - this.minRttAt > MIN_RTT_WINDOW_MS) {
      this.minRtt = r;
      this.minRttAt = now;
    }
  }

  /**
   * Records a transmission of [seq, end) at `now`; `sndMax` is the highest sequence sent before
   * it (below it is a retransmission, RFC 8985 6.1: its xmit_ts is the new time), `inFlight` the
   * pipe before it.
   */
  sent(seq: number, end: number, sndMax: number, now: number, inFlight: number): void {
    const segs = this.segs;
    const order = segs.nextOrder++;
    if (seqLt(seq, sndMax)) {
      const rEnd = seqLt(end, sndMax) ? end : sndMax;
      segs.splitAt(seq);
      segs.splitAt(rEnd);
      let i = segs.find(seq);
      if (i >= 0) {
        for (; i < segs.tail && seqLt(segs.start[i], rEnd); i++) {
          const f = segs.flags[i];
          if ((f & SEG_SACKED) !== 0) continue;
          segs.setFlags(i, f | SEG_RETRANS | SEG_EVER_RETRANS);
          segs.sentAt[i] = now;
          segs.order[i] = order;
          if (this.rateOn) this.rate.sent(segs, i, now, inFlight);
        }
      }
      seq = rEnd;
    }
    if (seqLt(seq, end)) {
      const i = segs.append(seq, end, now, order);
      if (i >= 0 && this.rateOn) this.rate.sent(segs, i, now, inFlight);
    }
  }

  /**
   * The receiver SACKed [left, right) (already checked to lie within SND.UNA..SND.MAX): marks
   * the records and updates RACK from each newly SACKed one. Returns the octets newly SACKed.
   */
  sacked(left: number, right: number, now: number): number {
    const segs = this.segs;
    this.#now = now;
    segs.splitAt(left);
    segs.splitAt(right);
    let i = segs.find(left);
    if (i < 0) return 0;
    const before = segs.sackedBytes;
    for (; i < segs.tail && seqLt(segs.start[i], right); i++) {
      const f = segs.flags[i];
      if ((f & SEG_SACKED) !== 0) continue;
      this.#delivered(i, (segs.end[i] - segs.start[i]) >>> 0, false);
      segs.setFlags(i, f | SEG_SACKED);
    }
    return segs.sackedBytes - before;
  }

  /** SND.UNA moved to `una`: drops the acknowledged records, updating RACK from them. */
  acked(una: number, now: number): void {
    this.#now = now;
    this.segs.advance(una, this.#onAcked);
  }

  /**
   * RFC 8985 6.2 steps 2 and 3 for one newly delivered record: RACK.xmit_ts/end_seq/rtt
   * (skipping a retransmitted segment whose ACK may be for the original: the echoed TSval is
   * older than the retransmission, or the RTT is below min_RTT), and RACK.fack/reordering_seen.
   */
  #delivered(i: number, len: number, cumulative: boolean): void {
    const segs = this.segs;
    const at = segs.sentAt[i];
    const end = segs.end[i];
    const order = segs.order[i];
    const f = segs.flags[i];
    if (this.rateOn) this.rate.deliver(segs, i, len, this.#now);
    const ever = (f & SEG_EVER_RETRANS) !== 0;
    // The echoed TSval predates the last transmission: what arrived was an earlier copy.
    const ecr = this.ackTsEcr;
    const earlier = ever && ecr !== 0 && seqLt(ecr, (Math.floor(at) + this.tsOffset) >>> 0);
    if (seqGt(end, this.fack) || this.xmitTs < 0) {
      this.fack = end;
    } else if (seqLt(end, this.fack) && (!ever || (earlier && cumulative))) {
      // Delivered below the highest delivered sequence: reordering (6.2 step 3). For a segment
      // already retransmitted, only when the cumulative ACK it advanced echoes the original's
      // TSval (a receiver echoes the segment that advanced RCV.NXT, RFC 7323 4.3): the
      // original was late, not lost.
      this.reorderingSeen = true;
    }
    const rtt = this.#now - at;
    if (ever && (earlier || rtt < this.minRtt)) return;
    if (this.xmitTs < 0 || sentAfter(order, end, this.xmitOrder, this.endSeq)) {
      this.xmitTs = at;
      this.xmitOrder = order;
      this.endSeq = end;
      this.rtt = rtt;
    }
  }

  /**
   * Evidence that a retransmission was not needed: a DSACK (RFC 2883), or a recovery undone as
   * spurious (recovery.ts). The first in a round widens the reordering window by min_RTT / 4
   * (RFC 8985 6.2 step 4) for the next {@link REO_WND_PERSIST} recoveries.
   */
  widen(sndUna: number, sndMax: number): void {
    this.reorderingSeen = true;
    if (this.dsackRound >= 0 && seqGeq(sndUna, this.dsackRound)) this.dsackRound = -1;
    if (this.dsackRound >= 0) return;
    this.dsackRound = sndMax;
    if (this.reoWndMult < MAX_REO_WND_MULT) this.reoWndMult++;
    this.reoWndPersist = REO_WND_PERSIST;
  }

  /** A recovery ended: one fewer for a widened window to persist (6.2 step 4). */
  recoveryEnded(): void {
    if (this.reoWndPersist > 0 && --this.reoWndPersist === 0) this.reoWndMult = 1;
  }

  /**
   * RACK.reo_wnd (6.2 step 4): zero while in recovery, or with `reordering` segments SACKed,
   * until reordering has been seen; else min(mult * min_RTT / 4, SRTT).
   */
  reoWnd(inLoss: boolean, reordering: number, mss: number, srtt: number): number {
    if (!this.reorderingSeen) {
      if (inLoss || this.segs.sackedBytes >= reordering * mss) return 0;
    }
    if (this.minRtt === Infinity) return 0;
    const w = (this.reoWndMult * this.minRtt) / 4;
    return srtt > 0 && srtt < w ? srtt : w;
  }

  /**
   * RFC 8985 6.2 step 5: marks lost every segment sent before RACK.xmit_ts that has waited more
   * than RACK.rtt + `reoWnd` since it was sent. Returns the time until the next one would be
   * (the reordering timer), 0 for none; `this.segs.pendingBytes` tells whether any was marked.
   */
  detectLoss(now: number, reoWnd: number): number {
    const segs = this.segs;
    if (this.xmitTs < 0) return 0;
    let timeout = 0;
    const flags = segs.flags;
    const wait = this.rtt + reoWnd;
    for (let i = segs.head; i < segs.tail; i++) {
      const f = flags[i];
      // SACKed, or lost and not yet retransmitted (RFC 8985's INFINITE_TS): nothing to decide.
      if ((f & SEG_SACKED) !== 0 || (f & (SEG_LOST | SEG_RETRANS)) === SEG_LOST) continue;
      if (!sentAfter(this.xmitOrder, this.endSeq, segs.order[i], segs.end[i])) {
        // Records never retransmitted are in order of sending: none past this one was sent
        // before RACK's segment either (a retransmission is later still).
        if ((f & SEG_EVER_RETRANS) === 0) break;
        continue;
      }
      const at = segs.sentAt[i];
      const remaining = at + wait - now;
      if (remaining <= 0) segs.setFlags(i, (f | SEG_LOST) & ~SEG_RETRANS);
      else if (remaining > timeout) timeout = remaining;
    }
    return timeout;
  }

  /**
   * A retransmission timeout: every range not SACKed is lost (Linux's tcp_enter_loss); with
   * `forgetSacks` (the receiver may have reneged, RFC 2018 8) the SACKed ones too.
   */
  markAllLost(forgetSacks: boolean): void {
    const segs = this.segs;
    for (let i = segs.head; i < segs.tail; i++) {
      const f = segs.flags[i];
      if (forgetSacks || (f & SEG_SACKED) === 0) {
        segs.setFlags(i, (f | SEG_LOST) & ~(SEG_RETRANS | SEG_SACKED));
      }
    }
  }

  /** A timeout proved spurious: nothing is lost any more (retransmissions stay in flight). */
  unmarkLost(): void {
    const segs = this.segs;
    for (let i = segs.head; i < segs.tail; i++) {
      const f = segs.flags[i];
      if ((f & SEG_LOST) !== 0) segs.setFlags(i, f & ~SEG_LOST);
    }
  }

  /**
   * The first range deemed lost and not retransmitted since: its index, or -1. Its length may
   * exceed an MSS (a super-frame); retransmission cuts it.
   */
  nextLost(): number {
    const segs = this.segs;
    if (segs.pendingBytes === 0) return -1;
    const flags = segs.flags;
    for (let i = segs.head; i < segs.tail; i++) {
      if ((flags[i] & (SEG_SACKED | SEG_LOST | SEG_RETRANS)) === SEG_LOST) return i;
    }
    return -1;
  }

  /** The start of the highest range not SACKed (a probe's retransmission), or -1. */
  lastUnsacked(): number {
    const segs = this.segs;
    for (let i = segs.tail - 1; i >= segs.head; i--) {
      if ((segs.flags[i] & SEG_SACKED) === 0) return i;
    }
    return -1;
  }

  /** Forgets the per-connection estimates that depend on sent data (the send state restarts). */
  reset(): void {
    this.segs.clear();
    this.xmitTs = -1;
    this.tlpEnd = -1;
    this.dsackRound = -1;
  }
}
