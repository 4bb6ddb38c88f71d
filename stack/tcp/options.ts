/**
 * Option negotiation at connection setup: MSS (RFC 9293 3.7.1, clamped to the route MTU, less the
 * bytes of options every segment carries, RFC 6691), window scale (RFC 7323 2: used only when
 * both SYNs carry it), SACK-permitted (RFC 2018 2), timestamps (RFC 7323 3.2: only when both SYNs
 * carry them), and the initial congestion window (RFC 6928).
 *
 * @module
 */

import type { TcpContext } from "./context.ts";
import { TS_OPTION_LEN } from "./transmit.ts";
import type { Segment } from "./segment.ts";
import type { Tcb } from "./tcb.ts";

/** RFC 9293 3.7.1: the send MSS to assume when the peer's SYN has no MSS option. */
export const DEFAULT_IPV4_MSS = 536;

/**
 * Offers, before the peer's SYN is seen: what this stack is configured to use. For a passive open
 * `applySynOptions` follows at once and keeps only what the SYN also has.
 */
export function offerOptions(ctx: TcpContext, t: Tcb): void {
  const c = ctx.config;
  t.opts.wsOk = c.windowScaling;
  t.opts.sackOk = c.sack;
  t.opts.tsOk = c.timestamps;
  t.rcv.wscale = c.windowScaling ? ctx.windowScale : 0;
  t.opts.advMss = routeMss(ctx, t.remote6 !== null);
}

/**
 * Applies the options of the peer's SYN or SYN-ACK to `t`, whose `opts.wsOk`/`sackOk`/`tsOk`
 * hold what we offer: each stays on only if the peer has it too.
 */
export function applySynOptions(ctx: TcpContext, t: Tcb, seg: Segment, now: number): void {
  const o = seg.opts;
  t.opts.wsOk = t.opts.wsOk && o.windowScale >= 0;
  if (t.opts.wsOk) {
    t.snd.wscale = o.windowScale;
    t.rcv.wscale = ctx.windowScale;
  } else {
    t.snd.wscale = 0;
    t.rcv.wscale = 0;
  }
  t.opts.sackOk = t.opts.sackOk && o.sackPermitted;
  t.opts.rackOn = t.opts.sackOk && ctx.config.recovery === "rack";
  t.opts.trackSent = t.opts.rackOn || t.cc.control !== undefined;
  t.rack.rateOn = t.cc.control !== undefined;
  t.opts.tsOk = t.opts.tsOk && o.hasTimestamp;
  if (t.opts.tsOk) {
    t.opts.tsRecent = o.tsVal;
    t.opts.tsRecentAge = now;
  }
  setMss(ctx, t, o.mss > 0 ? o.mss : DEFAULT_IPV4_MSS);
}

/**
 * The send MSS from the peer's MSS: at most our route's (RFC 9293 3.7.1 "MSS clamping") and what
 * a learned path MTU allows (RFC 1191), less the timestamp option every segment carries; and the
 * initial window of RFC 6928,
 * min(10 MSS, max(2 MSS, 14600)) with the configured segment count.
 */
export function setMss(ctx: TcpContext, t: Tcb, peerMss: number): void {
  const route = routeMss(ctx, t.remote6 !== null);
  let mss = peerMss < route ? peerMss : route;
  const headers = t.ipHeaderLen + 20;
  const pmtu = ctx.pathMtu(t);
  if (pmtu > 0 && pmtu - headers < mss) mss = pmtu - headers;
  if (t.opts.tsOk) mss -= TS_OPTION_LEN;
  if (mss < 64) mss = 64;
  t.opts.mss = mss;
  t.ackPolicy.rcvMss = mss;
  const iw = ctx.config.initialCwnd * mss;
  const cap = 2 * mss > 14600 ? 2 * mss : 14600;
  t.cong.cwnd = ctx.config.initialCwnd === 10 ? (iw < cap ? iw : cap) : iw;
}

/** The MSS the route allows: the link MTU less IPv4 and TCP headers, 20 less over IPv6. */
export function routeMss(ctx: TcpContext, v6: boolean): number {
  return v6 ? ctx.advMss - 20 : ctx.advMss;
}
