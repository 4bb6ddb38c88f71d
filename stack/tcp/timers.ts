/**
 * What a connection does when its timer fires: retransmission timeout (RFC 6298 5.4-5.7 with
 * RFC 5681 3.1's window reset, go-back-N from SND.UNA), zero-window probes (RFC 9293 3.8.6.1),
 * the delayed ACK (RFC 5681 4.2, RFC 9293 3.8.6.3), keepalive probes (RFC 1122 4.2.3.6),
 * TIME_WAIT expiry, the orphaned FIN_WAIT_2 timeout and the connect() deadline. Each deadline
 * lives on the control block; the wheel holds one node per connection at the earliest.
 *
 * @module
 */

import type { TcpContext } from "./context.ts";
import { timedOut } from "./errors.ts";
import { hasUnsent, output, persistInterval, sendNewSegment } from "./output.ts";
import { blackHoleCheck } from "./pmtu_probe.ts";
import { markUndo } from "./recovery.ts";
import { probeTimeout, reorderTimeout } from "./rack_recovery.ts";
import { sendAck, sendAckAt, sendWindowProbe } from "./transmit.ts";
import { abort, peerName } from "./transitions.ts";
import { CLOSE_WAIT, ESTABLISHED, FIN_WAIT_2, SYN_RECEIVED, SYN_SENT, TIME_WAIT } from "./state.ts";
import {
  RTX_OFF,
  RTX_PERSIST,
  RTX_PROBE,
  RTX_REORDER,
  RTX_RETRANSMIT,
  rtxArmed,
  type Tcb,
} from "./tcb.ts";

/** Runs every deadline of `t` that passed by `now`, then re-arms its timer at the next one. */
export function onTimer(ctx: TcpContext, t: Tcb, now: number): void {
  if (t.timers.lingerAt !== 0 && now >= t.timers.lingerAt) {
    t.timers.lingerAt = 0;
    if (t.state === TIME_WAIT) {
      ctx.release(t);
      return;
    }
    if (t.state === SYN_SENT) {
      abort(ctx, t, t.softError ?? timedOut(`connect to ${peerName(t)}`), false);
      return;
    }
    if (t.state === FIN_WAIT_2) {
      ctx.counters.count("tcp.fin_wait2_timeouts");
      abort(ctx, t, null, true);
      return;
    }
  }
  if (t.timers.rtxAt !== 0 && now >= t.timers.rtxAt) {
    t.timers.rtxAt = 0;
    if (t.timers.rtxMode === RTX_RETRANSMIT) {
      if (!retransmitTimeout(ctx, t, now)) return;
    } else if (t.timers.rtxMode === RTX_PERSIST) {
      if (!persistTimeout(ctx, t, now)) return;
    } else if (t.timers.rtxMode === RTX_PROBE) {
      probeTimeout(ctx, t, now, () => sendNewSegment(ctx, t, now));
    } else if (t.timers.rtxMode === RTX_REORDER) {
      reorderTimeout(ctx, t, now, () => output(ctx, t));
    }
  }
  if (t.timers.delackAt !== 0 && now >= t.timers.delackAt) {
    t.timers.delackAt = 0;
    if (t.opts.lastAckSent !== t.rcv.nxt || t.ackPolicy.bytesUnacked > 0) {
      ctx.counters.count("tcp.delayed_acks");
      sendAck(ctx, t);
    }
  }
  if (t.keepAlive) {
    if (!keepaliveCheck(ctx, t, now)) return;
  } else {
    t.timers.keepAt = 0;
  }
  rearm(ctx, t);
}

/** Arms `t`'s wheel node at its earliest deadline. */
export function rearm(ctx: TcpContext, t: Tcb): void {
  let next = 0;
  if (t.timers.rtxAt !== 0) next = t.timers.rtxAt;
  if (t.timers.delackAt !== 0 && (next === 0 || t.timers.delackAt < next)) next = t.timers.delackAt;
  if (t.timers.keepAt !== 0 && (next === 0 || t.timers.keepAt < next)) next = t.timers.keepAt;
  if (t.timers.lingerAt !== 0 && (next === 0 || t.timers.lingerAt < next)) next = t.timers.lingerAt;
  if (next !== 0) ctx.armTimer(t, next);
}

/** RFC 6298 5.4-5.7. False when the connection was given up. */
function retransmitTimeout(ctx: TcpContext, t: Tcb, now: number): boolean {
  const cfg = ctx.config;
  t.timers.rtxMode = RTX_OFF;
  if (t.outstanding === 0 && t.state !== SYN_SENT && t.state !== SYN_RECEIVED) return true;
  t.timers.rtxCount++;
  ctx.counters.count("tcp.rto_expired");
  const limit = t.state === SYN_SENT
    ? cfg.synRetries
    : t.state === SYN_RECEIVED
    ? cfg.synAckRetries
    : cfg.retries;
  // A peer that keeps a zero window but answers is alive (Linux's tcp_retransmit_timer): the
  // retransmissions act as window probes and do not count toward giving up.
  const zeroWindowAlive = t.snd.wnd === 0 && now - t.timers.lastRecvAt < cfg.maxRtoMs &&
    t.state !== SYN_SENT && t.state !== SYN_RECEIVED;
  if (zeroWindowAlive) t.timers.rtxCount--;
  if (t.timers.rtxCount > limit) {
    ctx.counters.count("tcp.retransmit_timeouts");
    const what = t.state === SYN_SENT ? "connect to" : "retransmitting to";
    // A half-open passive connection is just dropped (the listener stays). An ICMP soft error
    // seen meanwhile says more than a timeout (RFC 1122 4.2.3.9).
    abort(
      ctx,
      t,
      t.state === SYN_RECEIVED && t.passive
        ? null
        : t.softError ?? timedOut(`${what} ${peerName(t)}`),
      t.state !== SYN_SENT && t.state !== SYN_RECEIVED,
    );
    return false;
  }
  t.rtt.expired(); // RFC 6298 5.5: back off
  t.rttSeq = -1; // Karn: no sample from a retransmitted segment
  if (t.state === SYN_SENT || t.state === SYN_RECEIVED) {
    t.timers.synTimedOut = true;
    t.snd.nxt = t.snd.iss;
    output(ctx, t);
    return true;
  }
  blackHoleCheck(ctx, t); // RFC 4821: a path that drops big segments silently
  // RFC 5681 3.1: ssthresh only on the first timeout of a segment; cwnd = loss window. With RACK
  // the first timeout may be undone (RFC 5682's goal by RFC 3522's test, as Linux's
  // tcp_try_undo_loss): if the ACK that follows echoes a TSval from before the retransmission,
  // the window comes back and what was marked lost is not resent. Without RACK a timeout is never
  // undone: restoring the window into go-back-N was measured to turn an impaired link's rare
  // timeouts into storms of them.
  t.undo.ts = 0;
  t.undo.retrans = -1;
  t.undo.rto = false;
  if (t.timers.rtxCount === 1 && t.opts.rackOn && t.opts.tsOk) {
    markUndo(ctx, t, now);
    t.undo.retrans = -1;
    t.undo.distance = 0;
    t.undo.rto = t.undo.ts !== 0;
  }
  if (t.timers.rtxCount === 1) t.cc.onRto(t.cong, t.outstanding, now);
  else t.cong.cwnd = t.opts.mss;
  // RFC 6582 3.2 / RFC 6675 5.1: a timeout ends recovery; "recover" = what was sent.
  t.recovery.active = false;
  t.recovery.dupAcks = 0;
  t.recovery.recover = t.snd.max;
  t.recovery.highRxt = t.snd.una;
  // The receiver may have reneged on SACKed data: after a second timeout forget it (RFC 2018 8).
  if (t.timers.rtxCount >= 2) t.sacks.clear();
  if (t.opts.rackOn) {
    // Everything outstanding is lost; output retransmits it in order under the window
    // (rack_recovery.ts), skipping what stays SACKed.
    t.rack.markAllLost(t.timers.rtxCount >= 2);
    t.rack.tlpEnd = -1;
  } else {
    t.snd.nxt = t.snd.una; // go-back-N
  }
  if (t.snd.wnd === 0) {
    // Nothing fits: force one segment (it doubles as a window probe).
    const saved = t.snd.wnd;
    t.snd.wnd = t.opts.mss;
    output(ctx, t);
    t.snd.wnd = saved;
  } else {
    output(ctx, t);
  }
  if (!rtxArmed(t.timers.rtxMode) && t.outstanding > 0) {
    t.timers.rtxMode = RTX_RETRANSMIT;
    t.timers.rtxAt = now + t.rtt.rto;
  }
  return true;
}

/**
 * The persist timer: probe the zero window (RFC 9293 3.8.6.1), or, when the window is open but
 * too small for sender SWS avoidance, send what fits (the override timeout, RFC 1122 4.2.3.4).
 * False when given up.
 */
function persistTimeout(ctx: TcpContext, t: Tcb, now: number): boolean {
  t.timers.rtxMode = RTX_OFF;
  if (t.snd.wnd !== 0 || !hasUnsent(t)) {
    if (t.snd.wnd !== 0 && hasUnsent(t)) ctx.counters.count("tcp.sws_override");
    t.swsOverride = true;
    try {
      output(ctx, t);
    } finally {
      t.swsOverride = false;
    }
    return true;
  }
  // Probes continue while the peer answers; a silent peer is given up like a retransmission.
  if (now - t.timers.lastRecvAt > ctx.config.maxRtoMs * ctx.config.retries) {
    abort(ctx, t, timedOut(`zero window probes to ${peerName(t)}`), true);
    return false;
  }
  sendWindowProbe(ctx, t);
  t.timers.probes++;
  t.timers.rtxMode = RTX_PERSIST;
  t.timers.rtxAt = now + persistInterval(t);
  return true;
}

/** RFC 1122 4.2.3.6 keepalive. False when the peer was declared dead. */
function keepaliveCheck(ctx: TcpContext, t: Tcb, now: number): boolean {
  const ka = ctx.config.keepalive;
  const st = t.state;
  if (!(st === ESTABLISHED || st === CLOSE_WAIT || st === FIN_WAIT_2)) {
    t.timers.keepAt = 0;
    return true;
  }
  // Data in flight has its own timer; keepalive is for idle connections.
  if (t.outstanding > 0 || hasUnsent(t)) {
    t.timers.keepAt = now + ka.idleMs;
    t.timers.keepProbes = 0;
    return true;
  }
  const idle = now - t.timers.lastRecvAt;
  if (t.timers.keepProbes === 0 && idle < ka.idleMs) {
    t.timers.keepAt = t.timers.lastRecvAt + ka.idleMs;
    return true;
  }
  if (t.timers.keepAt !== 0 && now < t.timers.keepAt) return true;
  if (t.timers.keepProbes >= ka.count) {
    ctx.counters.count("tcp.keepalive_timeouts");
    abort(ctx, t, timedOut(`keepalive to ${peerName(t)}`), true);
    return false;
  }
  // A probe: one sequence number below SND.NXT, no data (RFC 1122 4.2.3.6); the peer ACKs it.
  ctx.counters.count("tcp.keepalive_probes");
  sendAckAt(ctx, t, (t.snd.nxt - 1) >>> 0);
  t.timers.keepProbes++;
  t.timers.keepAt = now + ka.intervalMs;
  return true;
}

/** Turns keepalive on or off for `t` and (re)arms its deadline. */
export function setKeepalive(ctx: TcpContext, t: Tcb, on: boolean, now: number): void {
  t.keepAlive = on;
  t.timers.keepProbes = 0;
  if (on) {
    t.timers.keepAt = t.timers.lastRecvAt + ctx.config.keepalive.idleMs;
    if (t.timers.keepAt <= now) t.timers.keepAt = now + 1;
    rearm(ctx, t);
  } else {
    t.timers.keepAt = 0;
  }
}

/** Kept for symmetry with `RTX_OFF` users: true when `t` has no timer duty at all. */
export function idle(t: Tcb): boolean {
  return t.timers.rtxAt === 0 && t.timers.delackAt === 0 && t.timers.keepAt === 0 &&
    t.timers.lingerAt === 0;
}
