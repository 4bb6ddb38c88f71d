/**
 * What undoing a spurious recovery needs (RFC 3522 Eifel detection, RFC 4015 response, RFC 2883
 * DSACKs): the window before the recovery and the evidence that tells whether its
 * retransmissions were needed. Set when a fast recovery or a timeout begins (recovery.ts
 * `markUndo`), read when ACKs and DSACKs come back; Linux's prior_cwnd, prior_ssthresh,
 * retrans_stamp, undo_marker and undo_retrans.
 *
 * @module
 */

/** The undo state, `t.undo` on a control block. */
export class UndoState {
  /** cwnd and ssthresh before the current fast recovery (restored if it was spurious). */
  priorCwnd = 0;
  /** See `priorCwnd`. */
  priorSsthresh = 0;
  /**
   * The TSval of the first retransmission of the current fast recovery, or 0: an ACK of
   * it that echoes an older TSval was caused by the original (RFC 3522 Eifel detection).
   */
  ts = 0;
  /** SND.UNA when that recovery began (the first octet retransmitted). */
  una = 0;
  /**
   * Segments the current recovery retransmitted and no DSACK has yet shown unneeded; -1 when no
   * undo is possible (Linux's undo_retrans).
   */
  retrans = -1;
  /** The undo in prospect is of a retransmission timeout, not of a fast recovery. */
  rto = false;
  /** Segments SACKed above SND.UNA when the recovery began: its reordering distance if spurious. */
  distance = 0;
}
