/**
 * The receive sequence space of one connection (RFC 9293 3.3.1, figure 5): what has arrived in
 * order, the window edge we advertised and the peer's FIN. Written by segment arrival (input.ts,
 * transitions.ts) and by the ACKs we send (the advertised edge); gVisor keeps these in its
 * `receiver` (rcv.go), Linux in tcp_sock's rcv_* fields.
 *
 * @module
 */

/** The receive sequence variables, `t.rcv` on a control block. Sequence numbers are uint32. */
export class RecvSeq {
  /** IRS: initial receive sequence number. */
  irs = 0;
  /** RCV.NXT: next sequence number expected. */
  nxt = 0;
  /** Right edge of the window we last advertised (RCV.NXT + RCV.WND then): never moves left. */
  adv = 0;
  /** Our window scale (shift applied to what we advertise). */
  wscale = 0;
  /** The peer's FIN sequence number when it arrived out of order, else -1. */
  finSeq = -1;
  /** The peer's FIN was received in order: end of its data. */
  fin = false;
}
