/**
 * The deadlines of one connection and the counts of what they sent (RFC 6298 retransmission,
 * RFC 8985 probe and reordering timers, RFC 9293 3.8.6.1 persist, RFC 5681 4.2 delayed ACK,
 * RFC 1122 4.2.3.6 keepalive, TIME_WAIT and the connect() deadline). Absolute times in ms, 0 =
 * off. Armed by the input and output paths, fired by timers.ts; the layer's wheel holds the
 * control block once, at the earliest of them (Linux's icsk_timeout, icsk_pending and
 * icsk_retransmits).
 *
 * @module
 */

/** Where the retransmission timer stands. */
export const RTX_OFF = 0;
/** Retransmission timer armed for outstanding data, SYN or FIN (RFC 6298). */
export const RTX_RETRANSMIT = 1;
/** Persist timer armed: zero window with data waiting (RFC 9293 3.8.6.1). */
export const RTX_PERSIST = 2;
/** Tail loss probe timer armed instead of the retransmission timer (RFC 8985 7.2). */
export const RTX_PROBE = 3;
/** RACK's reordering timer armed instead of the retransmission timer (RFC 8985 6.3). */
export const RTX_REORDER = 4;

/** True for the modes that stand in for the retransmission timer while data is outstanding. */
export function rtxArmed(mode: number): boolean {
  return mode === RTX_RETRANSMIT || mode === RTX_PROBE || mode === RTX_REORDER;
}

/** The timer state, `t.timers` on a control block. */
export class TcbTimers {
  /** Expiry of the retransmission, probe, reordering or persist timer. */
  rtxAt = 0;
  /** What `rtxAt` is for (RTX_OFF, RTX_RETRANSMIT, RTX_PERSIST, RTX_PROBE, RTX_REORDER). */
  rtxMode = RTX_OFF;
  /** Delayed-ACK deadline. */
  delackAt = 0;
  /** Keepalive deadline. */
  keepAt = 0;
  /** TIME_WAIT end, orphaned FIN_WAIT_2 end, or the connect() deadline. */
  lingerAt = 0;
  /** Consecutive retransmissions of the same data (reset by an ACK of new data). */
  rtxCount = 0;
  /** The SYN or SYN-ACK timed out at least once (RFC 6298 5.7). */
  synTimedOut = false;
  /** Zero-window probes sent without the window opening. */
  probes = 0;
  /** Keepalive probes sent without an answer. */
  keepProbes = 0;
  /** Time of the last segment received (keepalive idle time). */
  lastRecvAt = 0;
}
