/**
 * Delivery rate estimation (draft-cheng-iccrg-delivery-rate-estimation; Linux's tcp_rate.c): each
 * ACK yields a sample of how fast the path delivered data, from the most recently sent segment it
 * reports delivered. Each transmission records the connection's delivered count and its time, and
 * when the current flight began (sent_segments.ts); on delivery, the sample is
 * (delivered now - delivered then) / max(send interval, ACK interval), the larger interval guarding
 * against ACK compression. Samples taken while the application, not the network, limited the
 * sender are marked (a congestion control must not read them as the path's capacity). BBR
 * (congestion/bbr.ts) is built on these samples.
 *
 * @module
 */

import {
  SEG_APP_LIMITED,
  SEG_EVER_RETRANS,
  sentAfter,
  type SentSegments,
} from "./sent_segments.ts";

/** One ACK's sample (Linux's struct rate_sample). */
export interface RateSample {
  /** The connection's delivered count when the sampled segment was sent; -1: no sample. */
  priorDelivered: number;
  /** Octets delivered over the interval (0 when invalid). */
  delivered: number;
  /** The interval, ms; -1 when the sample is invalid (shorter than min RTT, or none). */
  interval: number;
  /** The sampled segment was sent while application-limited. */
  appLimited: boolean;
  /** RTT of the sampled segment, ms (-1 when it was retransmitted: ambiguous). */
  rtt: number;
  /** Octets newly delivered (cumulatively or selectively acknowledged) by this ACK. */
  ackedSacked: number;
  /** Octets newly deemed lost while processing this ACK. */
  losses: number;
  /** The pipe before this ACK. */
  priorInFlight: number;
}

/** One connection's delivery-rate state (the "C." variables of the draft). */
export class DeliveryRate {
  /** C.delivered: octets delivered in all. */
  delivered = 0;
  /** C.delivered_time: when the latest of them was reported, ms. */
  deliveredAt = 0;
  /** C.first_sent_time: send time of the first segment of the current flight, ms. */
  firstSentAt = 0;
  /** C.app_limited: 0, or the delivered count at which the application-limited phase ends. */
  appLimited = 0;
  /** The sample of the ACK being processed. */
  readonly rs: RateSample = {
    priorDelivered: -1,
    delivered: 0,
    interval: -1,
    appLimited: false,
    rtt: -1,
    ackedSacked: 0,
    losses: 0,
    priorInFlight: 0,
  };
  #priorAt = 0;
  #sendElapsed = 0;
  /** Transmission number and end of the sampled segment (sent_segments.ts `order`). */
  #order = 0;
  #end = 0;

  /** Record `i` of `segs` is being (re)transmitted at `now` with `inFlight` octets out before. */
  sent(segs: SentSegments, i: number, now: number, inFlight: number): void {
    if (inFlight === 0) {
      // A new flight: intervals restart here (an idle period is not path time).
      this.firstSentAt = now;
      this.deliveredAt = now;
    }
    segs.delivered[i] = this.delivered;
    segs.deliveredAt[i] = this.deliveredAt;
    segs.firstSentAt[i] = this.firstSentAt;
    if (this.appLimited !== 0) segs.flags[i] |= SEG_APP_LIMITED;
    else segs.flags[i] &= ~SEG_APP_LIMITED;
  }

  /** An ACK begins: the pipe before it. */
  begin(priorInFlight: number): void {
    const rs = this.rs;
    rs.priorDelivered = -1;
    rs.delivered = 0;
    rs.interval = -1;
    rs.appLimited = false;
    rs.rtt = -1;
    rs.ackedSacked = 0;
    rs.losses = 0;
    rs.priorInFlight = priorInFlight;
  }

  /** Record `i` (`len` octets) was newly delivered at `now`. */
  deliver(segs: SentSegments, i: number, len: number, now: number): void {
    this.delivered += len;
    this.deliveredAt = now;
    const rs = this.rs;
    rs.ackedSacked += len;
    // The most recently sent delivered segment gives the sample (the draft's "P"; by order of
    // sending, as Linux's tcp_rate_skb_delivered with tcp_skb_sent_after).
    const order = segs.order[i];
    if (rs.priorDelivered >= 0 && !sentAfter(order, segs.end[i], this.#order, this.#end)) return;
    this.#order = order;
    this.#end = segs.end[i];
    rs.priorDelivered = segs.delivered[i];
    this.#priorAt = segs.deliveredAt[i];
    rs.appLimited = (segs.flags[i] & SEG_APP_LIMITED) !== 0;
    this.#sendElapsed = segs.sentAt[i] - segs.firstSentAt[i];
    rs.rtt = (segs.flags[i] & SEG_EVER_RETRANS) !== 0 ? -1 : now - segs.sentAt[i];
    this.firstSentAt = segs.sentAt[i];
  }

  /**
   * The ACK was processed: completes the sample (the draft's "Upon receiving ACK" step). An
   * interval shorter than `minRtt` cannot be a real delivery rate (ACK compression) and is
   * invalid.
   */
  finish(minRtt: number): RateSample {
    const rs = this.rs;
    if (this.appLimited !== 0 && this.delivered > this.appLimited) this.appLimited = 0;
    if (rs.priorDelivered < 0) return rs;
    rs.delivered = this.delivered - rs.priorDelivered;
    const ackElapsed = this.deliveredAt - this.#priorAt;
    const interval = this.#sendElapsed > ackElapsed ? this.#sendElapsed : ackElapsed;
    rs.interval = interval >= minRtt && interval > 0 ? interval : -1;
    return rs;
  }

  /**
   * The sender has nothing more to send and room in the window (the draft's
   * CheckIfApplicationLimited): samples until this flight is delivered are application-limited.
   */
  markAppLimited(inFlight: number): void {
    const v = this.delivered + inFlight;
    this.appLimited = v > 0 ? v : 1;
  }
}
