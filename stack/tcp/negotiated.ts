/**
 * What the handshake settled for one connection (RFC 9293 3.7.1 MSS, RFC 7323 window scaling and
 * timestamps, RFC 2018 SACK), the loss detection chosen with them, and the per-connection state
 * of the timestamps option: TS.Recent for PAWS and Last.ACK.sent. Set when the connection opens
 * (options.ts; passive_open.ts for a SYN cookie's ACK); the MSS lowered by path MTU discovery
 * (layer.ts, pmtu_probe.ts); TS.Recent kept by input, Last.ACK.sent by the ACKs we send. Linux
 * keeps these in tcp_sock's rx_opt (tcp_options_received) and mss_cache.
 *
 * @module
 */

/** The negotiated options, `t.opts` on a control block. */
export class NegotiatedOptions {
  /** Payload bytes per segment toward the peer (its MSS, clamped, minus option bytes). */
  mss = 536;
  /** The MSS we advertise (route MTU - 40). */
  advMss = 536;
  /** Timestamps in use (RFC 7323 3.2 Snd.TS.OK). */
  tsOk = false;
  /** TS.Recent (RFC 7323 4.3). */
  tsRecent = 0;
  /** When TS.Recent was set, ms (for the 24-day PAWS validity, RFC 7323 5.5). */
  tsRecentAge = 0;
  /** Offset added to our TSval (RFC 7323 5.4). */
  tsOffset = 0;
  /** RCV.NXT value carried by the last ACK we sent (Last.ACK.sent, RFC 7323 4.3). */
  lastAckSent = 0;
  /** SACK in use (both sides sent SACK-permitted). */
  sackOk = false;
  /** Loss detection is RACK-TLP (SACK in use and `recovery: "rack"`), else RFC 6675/6582. */
  rackOn = false;
  /**
   * Every transmission is recorded (rack.ts, sent_segments.ts): for RACK, or for a congestion
   * control that reads delivery-rate samples (BBR).
   */
  trackSent = false;
  /** Window scaling in use. */
  wsOk = false;
}
