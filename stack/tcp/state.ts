/**
 * The eleven TCP states of RFC 9293 3.3.2, as small integers (a connection's state is compared
 * on every segment), with the names `netstat` prints.
 *
 * @module
 */

/** No connection (a closed or freshly created control block). */
export const CLOSED = 0;
/** Waiting for a connection request (a listener). */
export const LISTEN = 1;
/** Sent a SYN, waiting for the matching SYN-ACK. */
export const SYN_SENT = 2;
/** Received a SYN and sent a SYN-ACK, waiting for its acknowledgment. */
export const SYN_RECEIVED = 3;
/** Open: data flows both ways. */
export const ESTABLISHED = 4;
/** Sent our FIN, waiting for its ACK or the peer's FIN. */
export const FIN_WAIT_1 = 5;
/** Our FIN is acknowledged; waiting for the peer's FIN. */
export const FIN_WAIT_2 = 6;
/** The peer sent FIN; waiting for the local user to close. */
export const CLOSE_WAIT = 7;
/** Both sides sent FIN at once; waiting for the ACK of ours. */
export const CLOSING = 8;
/** The peer closed first and so did we; waiting for the ACK of our FIN. */
export const LAST_ACK = 9;
/** Both FINs acknowledged; waiting 2*MSL so stray segments die (RFC 9293 3.6.1). */
export const TIME_WAIT = 10;

/** A state number (CLOSED .. TIME_WAIT). */
export type TcpState = number;

const NETSTAT_NAMES = [
  "CLOSE",
  "LISTEN",
  "SYN_SENT",
  "SYN_RECV",
  "ESTABLISHED",
  "FIN_WAIT1",
  "FIN_WAIT2",
  "CLOSE_WAIT",
  "CLOSING",
  "LAST_ACK",
  "TIME_WAIT",
];

const RFC_NAMES = [
  "CLOSED",
  "LISTEN",
  "SYN-SENT",
  "SYN-RECEIVED",
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
  "TIME-WAIT",
];

/** The name `netstat -nat` prints for a state ("SYN_RECV", "FIN_WAIT1", "CLOSE", ...). */
export function netstatStateName(state: TcpState): string {
  return NETSTAT_NAMES[state] ?? "UNKNOWN";
}

/** The RFC 9293 name of a state ("SYN-RECEIVED", "FIN-WAIT-1", ...). */
export function rfcStateName(state: TcpState): string {
  return RFC_NAMES[state] ?? "UNKNOWN";
}

/**
 * True in the synchronized states (RFC 9293 3.5.2: ESTABLISHED and after), where a SYN or an
 * unacceptable segment draws an ACK rather than a reset.
 */
export function isSynchronized(state: TcpState): boolean {
  return state >= ESTABLISHED;
}
