/**
 * When the receiver acknowledges: the delayed-ACK count (RFC 5681 4.2, RFC 1122 4.2.3.2: an ACK
 * for at least every second full-sized segment), an ACK owed at once (out-of-order data, a window
 * update, a challenge), and the duplicate to report as a DSACK (RFC 2883). Written by segment
 * arrival, cleared by the ACK that transmit.ts sends; Linux's icsk_ack (inet_connection_sock).
 *
 * @module
 */

/** The receive-side ACK policy, `t.ackPolicy` on a control block. */
export class AckPolicy {
  /** Bytes received in order since our last ACK (RFC 5681 4.2, RFC 1122 4.2.3.2). */
  bytesUnacked = 0;
  /** Largest payload received: the peer's segment size, to tell full-sized segments. */
  rcvMss = 536;
  /** An ACK must go out at the next flush. */
  ackNow = false;
  /** A duplicate to report in the next ACK's first SACK block (RFC 2883); equal: none. */
  dsackStart = 0;
  /** End of that duplicate (see `dsackStart`). */
  dsackEnd = 0;
}
