/**
 * Where loss recovery stands on one connection: the duplicate-ACK count, whether a fast recovery
 * is under way and up to where (RFC 6582 "recover", RFC 6675 RecoveryPoint), what it has
 * retransmitted (RFC 6675 HighRxt, RescueRxt), and the reordering the path has shown. Read and
 * written by recovery.ts (RFC 6675, NewReno), rack_recovery.ts (RACK-TLP) and ACK processing;
 * Linux's icsk_ca_state, high_seq, retransmit_high and reordering.
 *
 * @module
 */

import { DUP_THRESH } from "./sack_scoreboard.ts";

/** The recovery state, `t.recovery` on a control block. */
export class RecoveryState {
  /** Duplicate ACKs in a row. */
  dupAcks = 0;
  /** In fast recovery (after a fast retransmit, until RecoveryPoint is acknowledged). */
  active = false;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint: SND.MAX when recovery began. */
  recover = 0;
  /** RFC 6675 HighRxt + 1: end of the highest retransmitted range. */
  highRxt = 0;
  /** RFC 6675 RescueRxt, or -1. */
  rescueRxt = -1;
  /**
   * SND.MAX when the segment at SND.UNA was last retransmitted, and that SND.UNA: once data sent
   * after it is SACKed (past the reordering allowance) while SND.UNA has not moved, that
   * retransmission was lost too (the hole that holds every cumulative ACK back).
   */
  rxtSentMax = 0;
  /** SND.UNA at that retransmission, or -1 (see `rxtSentMax`). */
  rxtUna = -1;
  /**
   * The reordering the path has shown, in segments: the duplicate-ACK threshold (RFC 6675
   * DupThresh), 3 until a recovery turns out spurious, then raised to the distance that was
   * mistaken for a loss (Linux's tp->reordering, RFC 4653's idea).
   */
  reordering = DUP_THRESH;
}
