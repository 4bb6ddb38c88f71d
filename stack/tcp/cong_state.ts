/**
 * The congestion window of one connection (RFC 5681 2, 3.1): cwnd and ssthresh, written by the
 * algorithm (congestion/) on ACKs and losses and by recovery (PRR, RFC 6582 deflation, undo). It
 * is what the connection hands its algorithm as congestion/cc.ts's `CongestionWindow`, so it also
 * shows the few variables of other mechanisms an algorithm reads (SMSS, SND.UNA and SND.MAX for
 * HyStart++'s rounds) through getters, and the RTT sample of the ACK being processed.
 *
 * @module
 */

import { type CongestionWindow, INITIAL_SSTHRESH } from "./congestion/cc.ts";
import type { SendSeq } from "./send_seq.ts";

/** Where the sender's segment size is kept (the negotiated options). */
export interface HasMss {
  /** Payload bytes per segment toward the peer (SMSS). */
  readonly mss: number;
}

/** The congestion variables, `t.cong` on a control block. */
export class CongState implements CongestionWindow {
  /** Congestion window, bytes. */
  cwnd = 0;
  /** Slow-start threshold, bytes. */
  ssthresh = INITIAL_SSTHRESH;
  /** The RTT sample of the ACK being processed, ms (0: none): HyStart++'s per-round minimum. */
  latestRtt = 0;
  readonly #snd: SendSeq;
  readonly #opts: HasMss;

  /** The window of a connection whose send sequence space and segment size are these. */
  constructor(snd: SendSeq, opts: HasMss) {
    this.#snd = snd;
    this.#opts = opts;
  }

  /** SMSS, bytes. */
  get mss(): number {
    return this.#opts.mss;
  }

  /** SND.UNA. */
  get sndUna(): number {
    return this.#snd.una;
  }

  /** SND.MAX. */
  get sndMax(): number {
    return this.#snd.max;
  }
}
