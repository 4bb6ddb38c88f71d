/**
 * The send sequence space of one connection (RFC 9293 3.3.1, figure 4): what has been sent,
 * what the peer has acknowledged and the window it offers. Written by the output path (NXT, MAX),
 * by ACK processing (UNA, the window) and by the user's close (the FIN); gVisor keeps these in
 * its `sender` (snd.go), Linux in tcp_sock's snd_* fields.
 *
 * @module
 */

/** The send sequence variables, `t.snd` on a control block. Sequence numbers are uint32. */
export class SendSeq {
  /** ISS: initial send sequence number. */
  iss = 0;
  /** SND.UNA: oldest unacknowledged sequence number. */
  una = 0;
  /** SND.NXT: next sequence number to send (pulled back to SND.UNA on a timeout). */
  nxt = 0;
  /** The highest sequence number sent plus one (BSD's snd_max; RFC 6675 HighData + 1). */
  max = 0;
  /** SND.WND: the peer's window, bytes (scaled). */
  wnd = 0;
  /** SND.WL1: segment sequence number of the last window update. */
  wl1 = 0;
  /** SND.WL2: segment acknowledgment number of the last window update. */
  wl2 = 0;
  /** Largest window the peer ever offered (RFC 5961 5.2 MAX.SND.WND; SWS avoidance). */
  maxWnd = 0;
  /** Sequence number of the first byte in the send buffer. */
  base = 0;
  /** Shift applied to the peer's window field (its window scale), 0 without scaling. */
  wscale = 0;
  /** The user closed the sending side: a FIN follows the buffered data. */
  finQueued = false;
}
