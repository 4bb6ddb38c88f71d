/**
 * A connection-table entry as a plain object, for listings (`lb.ts conns`, like
 * `ipvsadm -L -n -c`), and the `mm:ss` expiry format ipvsadm prints.
 *
 * @module
 */

import type { ForwardMethod, Protocol, RealServer } from "../service.ts";
import type { ConnStateName } from "./tcp_states.ts";

/** One flow, copied out of the table (control path only: this allocates). */
export interface ConnInfo {
  /** "tcp" or "udp". */
  protocol: Protocol;
  /** State name, e.g. "ESTABLISHED", "TIME_WAIT", "UDP". */
  state: ConnStateName;
  /** Milliseconds until the flow expires unless a packet refreshes it. */
  expiresInMs: number;
  /** Client address (u32) and port: ipvsadm's "source". */
  clientIp: number;
  /** Client port. */
  clientPort: number;
  /** Virtual address and port: ipvsadm's "virtual". */
  vip: number;
  /** Virtual port. */
  vport: number;
  /** Real server address and port: ipvsadm's "destination". */
  realIp: number;
  /** Real server port. */
  realPort: number;
  /** Forwarding method of the flow. */
  method: ForwardMethod;
  /** The real server object (its counters include this flow). */
  real: RealServer;
  /** An IPv6 flow's client address (then `clientIp` and `vip` are the table's folds). */
  client6?: Uint8Array;
  /** An IPv6 flow's VIP. */
  vip6?: Uint8Array;
}

/** Milliseconds as ipvsadm's expire column: whole minutes and seconds, `mm:ss`, rounded down. */
export function formatExpire(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const mm = Math.floor(total / 60);
  const ss = total % 60;
  return `${String(mm).padStart(2, "0")}:${String(ss).padStart(2, "0")}`;
}
