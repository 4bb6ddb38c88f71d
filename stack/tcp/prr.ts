/**
 * Proportional Rate Reduction (RFC 6937): the congestion window during a fast recovery. Instead
 * of halting until half the flight has drained and then bursting (RFC 6675's cwnd = ssthresh),
 * the sender sends in proportion to what the receiver reports delivered, so the flight falls
 * smoothly from RecoverFS to ssthresh over one round trip; when losses drained the flight below
 * ssthresh, it grows back no faster than slow start (PRR-SSRB, 3.1). Linux's
 * tcp_cwnd_reduction.
 *
 * @module
 */

/** PRR's state for one recovery episode. */
export class Prr {
  /** prr_delivered: octets the receiver reported delivered since the recovery began. */
  delivered = 0;
  /** prr_out: octets sent since the recovery began. */
  out = 0;
  /** RecoverFS: the flight when the recovery began. */
  recoverFs = 0;

  /** A recovery begins with `flight` octets outstanding (RFC 6937 3: initialization). */
  start(flight: number): void {
    this.delivered = 0;
    this.out = 0;
    this.recoverFs = flight > 0 ? flight : 1;
  }

  /**
   * One ACK during the recovery reported `deliveredData` octets delivered (SND.UNA's advance
   * plus the change in SACKed octets). Returns the new cwnd: pipe plus what may be sent now.
   */
  onAck(deliveredData: number, pipe: number, ssthresh: number, mss: number): number {
    this.delivered += deliveredData;
    let sndcnt: number;
    if (pipe > ssthresh) {
      // Proportional part: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out.
      sndcnt = Math.ceil((this.delivered * ssthresh) / this.recoverFs) - this.out;
    } else {
      // PRR-SSRB: limit = MAX(prr_delivered - prr_out, DeliveredData) + MSS.
      const d = this.delivered - this.out;
      const limit = (d > deliveredData ? d : deliveredData) + mss;
      const room = ssthresh - pipe;
      sndcnt = room < limit ? room : limit;
    }
    if (sndcnt < 0) sndcnt = 0;
    // The fast retransmit itself always goes out on the first ACK (Linux: "force a fast
    // retransmit upon entering fast recovery").
    if (this.out === 0 && sndcnt < mss) sndcnt = mss;
    return pipe + sndcnt;
  }
}
