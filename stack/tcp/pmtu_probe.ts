/**
 * Black-hole detection for packetization-layer path MTU discovery (RFC 4821; Linux's
 * tcp_mtu_probing). Path MTU discovery by ICMP (RFC 1191, layer.ts) fails silently where a
 * firewall drops "fragmentation needed": full-sized segments vanish and only the retransmission
 * timer notices. After {@link BLACK_HOLE_TIMEOUTS} timeouts in a row the segment size falls to
 * {@link PLPMTUD_BASE_MSS} (RFC 4821 7.2's suggested 1024-byte search floor, Linux's
 * tcp_base_mss), and halves at each further detection down to the IPv4 default MSS of 536. The
 * destination's entry in the path MTU cache learns the size, so other connections to it start
 * there; the entry expires after ten minutes and full-sized segments are tried again (RFC 4821
 * 7.7's periodic probe upward, done by expiry rather than by probe segments).
 *
 * @module
 */

import { IPV6_MIN_MTU } from "../wire/ipv6.ts";
import type { TcpContext } from "./context.ts";
import { DEFAULT_IPV4_MSS } from "./options.ts";
import type { Tcb } from "./tcb.ts";
import { TS_OPTION_LEN } from "./transmit.ts";

/** Consecutive retransmission timeouts that make a black hole (Linux: tcp_retries1 = 3). */
export const BLACK_HOLE_TIMEOUTS = 3;
/** The segment size after the first detection, bytes. */
export const PLPMTUD_BASE_MSS = 1024;

/** Called at each retransmission timeout of data: lowers the MSS when a black hole is likely. */
export function blackHoleCheck(ctx: TcpContext, t: Tcb): void {
  if (!ctx.config.mtuProbing || t.timers.rtxCount < BLACK_HOLE_TIMEOUTS) return;
  const overhead = t.ipHeaderLen + 20 + (t.opts.tsOk ? TS_OPTION_LEN : 0);
  // The floor: IPv4's default MSS (RFC 9293 3.7.1); over IPv6 what the 1280-byte minimum MTU
  // carries (RFC 8200 5), below which no IPv6 path goes.
  const floor = (t.remote6 === null ? DEFAULT_IPV4_MSS : IPV6_MIN_MTU - 60) -
    (t.opts.tsOk ? TS_OPTION_LEN : 0);
  let mss = t.opts.mss > PLPMTUD_BASE_MSS ? PLPMTUD_BASE_MSS : t.opts.mss >> 1;
  if (mss < floor) mss = floor;
  if (mss >= t.opts.mss) return;
  ctx.counters.count("tcp.black_hole_detected");
  t.opts.mss = mss;
  ctx.learnPathMtu(t, mss + overhead);
}
