/**
 * Passive opens (RFC 9293 3.10.7.2, a segment for a listener): a SYN becomes a half-open
 * connection in SYN_RECEIVED while the listener's SYN backlog has room, else a stateless SYN-ACK
 * carrying a SYN cookie (RFC 4987 3.6) whose returning ACK rebuilds the connection; an ACK that
 * is not a valid cookie draws a RST; SYNs are dropped while the accept queue is full (Linux).
 *
 * @module
 */

import { seqGt } from "../wire/seq.ts";
import type { TcpLayer } from "./layer.ts";
import type { ListenQueue } from "./listen_queue.ts";
import { applySynOptions, offerOptions, routeMss, setMss } from "./options.ts";
import { output } from "./output.ts";
import { segmentArrives } from "./input.ts";
import type { Segment } from "./segment.ts";
import { ESTABLISHED, SYN_RECEIVED } from "./state.ts";
import { sendCookieSynAck, sendResetFor } from "./transmit.ts";
import { allocateBuffers, setState } from "./transitions.ts";

/** How long a listener that sent cookies keeps checking ACKs for them (RFC 4987: 2 minutes). */
export const COOKIE_CHECK_MS = 120_000;

/** RFC 9293 3.10.7.2: a segment for a listener. */
export function listenInput(
  layer: TcpLayer,
  l: ListenQueue,
  seg: Segment,
  minIss: number,
): void {
  const counters = layer.counters;
  if (seg.rst) return;
  const now = layer.clock.now();
  if (seg.hasAck) {
    if (!seg.syn && layer.config.synCookies && now - l.lastCookieAt < COOKIE_CHECK_MS) {
      if (cookieAck(layer, l, seg, now)) return;
    }
    // "Any acknowledgment is bad if it arrives on a connection still in the LISTEN state."
    sendResetFor(layer, seg);
    return;
  }
  if (!seg.syn) return;
  // The buffers' budget is spent: no new connection (the peer's SYN retransmits later).
  if (layer.memory.full) {
    counters.count("tcp.memory_refused");
    return;
  }
  if (l.acceptFull()) {
    counters.count("tcp.listen_overflow");
    return;
  }
  if (l.synRecvCount >= l.synBacklog) {
    if (!layer.config.synCookies) {
      counters.count("tcp.syn_backlog_drop");
      return;
    }
    // RFC 4987 3.6: answer without keeping state.
    l.lastCookieAt = now;
    const o = seg.opts;
    const ws = layer.config.windowScaling ? o.windowScale : -1;
    const sack = layer.config.sack && o.sackPermitted;
    const cookie = layer.cookies.make(
      seg.src,
      seg.srcPort,
      seg.dst,
      seg.dstPort,
      seg.seq,
      o.mss,
      ws,
      sack,
      now,
    );
    const tsOffset = layer.isn.tsOffset(seg.dst, seg.dstPort, seg.src, seg.srcPort);
    const route = routeMss(layer, seg.v6);
    const mss = o.mss > 0 && o.mss < route ? o.mss : route;
    sendCookieSynAck(layer, seg, cookie, mss, (Math.floor(now) + tsOffset) >>> 0);
    return;
  }
  const t = layer.newTcbFor(seg, now);
  t.passive = true;
  t.listener = l;
  offerOptions(layer, t);
  applySynOptions(layer, t, seg, now);
  t.rcv.irs = seg.seq;
  t.rcv.nxt = (seg.seq + 1) >>> 0;
  t.opts.lastAckSent = t.rcv.nxt;
  let iss = layer.isn.isn(seg.dst, seg.dstPort, seg.src, seg.srcPort, now);
  if (minIss >= 0 && !seqGt(iss, minIss)) iss = minIss;
  t.snd.iss = iss;
  layer.initSend(t);
  // RFC 7323 2.2: the SYN's window is not scaled.
  t.snd.wnd = seg.window;
  t.snd.wl1 = seg.seq;
  t.snd.maxWnd = seg.window;
  setState(t, SYN_RECEIVED, now);
  layer.insert(t);
  l.synRecvAdd(t);
  counters.count("tcp.passive_opens");
  output(layer, t);
}

/** The final ACK of a cookie handshake: rebuild the connection from the cookie (RFC 4987). */
function cookieAck(layer: TcpLayer, l: ListenQueue, seg: Segment, now: number): boolean {
  const cookie = (seg.ack - 1) >>> 0;
  const peerIsn = (seg.seq - 1) >>> 0;
  if (!layer.cookies.check(seg.src, seg.srcPort, seg.dst, seg.dstPort, peerIsn, cookie, now)) {
    layer.counters.count("tcp.syncookies_failed");
    return false;
  }
  if (l.acceptFull()) {
    layer.counters.count("tcp.listen_overflow");
    return true; // dropped: the peer will retransmit
  }
  const d = layer.cookies.last;
  const t = layer.newTcbFor(seg, now);
  t.passive = true;
  const c = layer.config;
  t.opts.wsOk = c.windowScaling && d.windowScale >= 0;
  t.snd.wscale = t.opts.wsOk ? d.windowScale : 0;
  t.rcv.wscale = t.opts.wsOk ? layer.windowScale : 0;
  t.opts.sackOk = c.sack && d.sackPermitted;
  t.opts.rackOn = t.opts.sackOk && c.recovery === "rack";
  t.opts.trackSent = t.opts.rackOn || t.cc.control !== undefined;
  t.rack.rateOn = t.cc.control !== undefined;
  t.opts.tsOk = c.timestamps && seg.opts.hasTimestamp;
  if (t.opts.tsOk) {
    t.opts.tsRecent = seg.opts.tsVal;
    t.opts.tsRecentAge = now;
  }
  t.opts.advMss = routeMss(layer, t.remote6 !== null);
  setMss(layer, t, d.mss);
  t.snd.iss = cookie;
  layer.initSend(t);
  t.snd.una = seg.ack;
  t.snd.nxt = seg.ack;
  t.snd.max = seg.ack;
  t.rcv.irs = peerIsn;
  t.rcv.nxt = seg.seq;
  t.opts.lastAckSent = seg.seq;
  const free = c.receiveBuffer;
  t.rcv.adv = (seg.seq + (free > 0xffff ? 0xffff : free)) >>> 0;
  t.snd.wnd = seg.window << t.snd.wscale;
  t.snd.wl1 = seg.seq;
  t.snd.wl2 = seg.ack;
  t.snd.maxWnd = t.snd.wnd;
  setState(t, ESTABLISHED, now);
  allocateBuffers(layer, t);
  layer.insert(t);
  layer.counters.count("tcp.syncookies_ok");
  l.enqueue(t);
  // The ACK may carry data already: process it as a segment of the new connection.
  if (seg.payloadLen > 0 || seg.fin) segmentArrives(layer, t, seg);
  return true;
}
