/**
 * The send policy: what to send now. RFC 9293 3.8.6.2.1 / RFC 1122 4.2.3.4: full segments when
 * the usable window (the smaller of the peer's window and cwnd, RFC 5681) allows, a partial one
 * only under Nagle's rule (nothing outstanding, or `noDelay`) or when it is half the peer's
 * largest window (sender SWS avoidance); RFC 3042 limited transmit; RFC 6675 loss recovery with
 * SACK (NextSeg rules 1-4 under cwnd - pipe); go-back-N after a timeout, skipping SACKed data;
 * the FIN after the last byte; the persist timer for a zero window, which is also the override
 * timer of sender SWS avoidance (RFC 1122 4.2.3.4) when a small window holds data back. With
 * segmentation offload a run of full segments leaves as one super-frame (tso.ts); loss recovery
 * sends single segments.
 *
 * @module
 */

import { seqDiff, seqGt, seqLeq, seqLt } from "../wire/seq.ts";
import type { TcpContext } from "./context.ts";
import {
  CLOSE_WAIT,
  CLOSING,
  ESTABLISHED,
  FIN_WAIT_1,
  LAST_ACK,
  SYN_RECEIVED,
  SYN_SENT,
} from "./state.ts";
import { RTX_OFF, RTX_PERSIST, type Tcb } from "./tcb.ts";
import { sendAck, sendData, sendSyn } from "./transmit.ts";
import { tsoSegmentCap } from "./tso.ts";
import { retransmitAt } from "./recovery.ts";
import { scheduleProbe } from "./rack_recovery.ts";

/** Cap of the persist interval (RFC 9293 3.8.6.1: probes keep going, spaced out). */
const PERSIST_MAX_MS = 60_000;

/** True when `t` has data or a FIN not yet sent beyond SND.NXT. */
export function hasUnsent(t: Tcb): boolean {
  const end = t.sndEnd;
  return seqLt(t.snd.nxt, end) || (t.snd.finQueued && seqLeq(t.snd.nxt, end));
}

/**
 * Sends what the windows and the send policy allow, then a bare ACK if one is owed and nothing
 * else carried it, then arms the persist timer if a zero window holds data back.
 */
export function output(ctx: TcpContext, t: Tcb): void {
  const st = t.state;
  const now = ctx.clock.now();
  if (st === SYN_SENT || st === SYN_RECEIVED) {
    if (t.snd.nxt === t.snd.iss) sendSyn(ctx, t, now);
    return;
  }
  if (
    st === ESTABLISHED || st === CLOSE_WAIT || st === FIN_WAIT_1 || st === CLOSING ||
    st === LAST_ACK
  ) {
    const max = t.snd.max;
    if (t.opts.rackOn) {
      if (t.recovery.active || t.rack.segs.pendingBytes > 0) rackRecoveryOutput(ctx, t, now);
      else sendWindow(ctx, t, now);
      if (t.snd.max !== max) scheduleProbe(ctx, t, now);
    } else if (t.recovery.active && t.opts.sackOk) {
      sackRecoveryOutput(ctx, t, now);
    } else {
      sendWindow(ctx, t, now);
    }
    if (t.timers.rtxMode === RTX_OFF && t.outstanding === 0 && hasUnsent(t)) {
      // RFC 9293 3.8.6.1: a zero window with data to send: probe it. A window too small to send
      // into (sender SWS avoidance held the data) gets the same timer as its override timeout
      // (RFC 1122 4.2.3.4: "SHOULD be in the range 0.1 - 1.0 seconds"; the first one is the RTO,
      // 200 ms at its floor), as Linux's probe timer does for any window that stalls the sender.
      t.timers.rtxMode = RTX_PERSIST;
      t.timers.rtxAt = now + persistInterval(t);
      ctx.armTimer(t, t.timers.rtxAt);
    }
  }
  if (t.ackPolicy.ackNow) sendAck(ctx, t);
}

/** The persist interval: the RTO backed off per unanswered probe, capped at 60 s. */
export function persistInterval(t: Tcb): number {
  const v = t.rtt.baseRto * 2 ** (t.timers.probes < 16 ? t.timers.probes : 16);
  return v < PERSIST_MAX_MS ? v : PERSIST_MAX_MS;
}

/**
 * The normal send loop (RFC 5681 windows, Nagle, sender SWS avoidance, limited transmit). With
 * segmentation offload a segment may span many MSS (a super-frame the kernel cuts): whole MSS
 * multiples, except where the data or the range to retransmit ends.
 */
function sendWindow(ctx: TcpContext, t: Tcb, now: number): void {
  const mss = t.opts.mss;
  const cap = ctx.txMeta !== null ? tsoSegmentCap(t) : mss;
  // A run of segments is bounded by the windows; the count bound is a safety net only.
  for (let n = 0; n < 4096; n++) {
    let seq = t.snd.nxt;
    if (t.opts.sackOk && t.sacks.count > 0 && seqLt(seq, t.snd.max)) {
      // Go-back-N after a timeout: the receiver holds SACKed ranges already.
      const skip = t.sacks.skipSacked(seq);
      if (skip !== seq) {
        seq = skip;
        t.snd.nxt = skip;
      }
    }
    const end = t.sndEnd;
    let avail = seqDiff(end, seq);
    if (avail < 0) avail = 0;
    const finPending = t.snd.finQueued && seqLeq(seq, end);
    if (avail === 0 && !finPending) return;
    const retransmit = seqLt(seq, t.snd.max);
    let limit = retransmit ? t.snd.max : end;
    if (t.opts.sackOk && retransmit) limit = t.sacks.nextSackedAbove(seq, limit);
    const span = seqDiff(limit, seq);
    let len = span;
    if (len > cap) len = cap;
    if (len > avail) len = avail;
    // The usable window (RFC 5681 2: min(cwnd, rwnd) minus what is in flight).
    let cwnd = t.cong.cwnd;
    if (!retransmit && !t.recovery.active && t.recovery.dupAcks > 0 && t.recovery.dupAcks < 3) {
      // RFC 3042 limited transmit: one new segment per early dupack.
      cwnd += t.recovery.dupAcks * mss;
    }
    const wnd = t.snd.wnd < cwnd ? t.snd.wnd : cwnd;
    const usable = wnd - seqDiff(seq, t.snd.una);
    if (len > usable) len = usable > 0 ? usable : 0;
    // A super-frame cut by a window ends on a segment boundary (no runt segment mid-stream,
    // as Linux's tcp_mss_split_point).
    if (len > mss && len !== avail && len !== span) len -= len % mss;
    let fin = false;
    if (len > 0) {
      const all = len === avail;
      if (
        !(len >= mss || retransmit || t.swsOverride ||
          (all && (t.noDelay || t.outstanding === 0 || finPending)) ||
          (t.snd.maxWnd > 0 && len >= t.snd.maxWnd / 2))
      ) {
        return; // Nagle (RFC 1122 4.2.3.4) or sender SWS avoidance: wait for more.
      }
      fin = all && finPending;
    } else if (avail === 0 && finPending) {
      fin = true; // a bare FIN needs no window
    } else {
      return;
    }
    const used = sendData(ctx, t, seq, len, fin, now);
    t.snd.nxt = (seq + used) >>> 0;
    if (fin && used === len + 1) return;
  }
}

/**
 * RFC 6675 5 step (C): while cwnd - pipe >= 1 SMSS, send what NextSeg() picks: (1) the first
 * lost, not yet retransmitted hole; (2) new data; (3) a hole not yet deemed lost; (4) one rescue
 * retransmission per recovery episode.
 */
function sackRecoveryOutput(ctx: TcpContext, t: Tcb, now: number): void {
  const mss = t.opts.mss;
  const sacks = t.sacks;
  for (let n = 0; n < 4096; n++) {
    const pipe = sacks.pipe(t.snd.una, t.snd.max, t.recovery.highRxt, mss);
    if (t.cong.cwnd - pipe < mss) return;
    const highSacked = sacks.highest(t.snd.una);
    // (1) and (3): the first unSACKed octet at or above HighRxt, below the highest SACK.
    let s = seqLt(t.recovery.highRxt, t.snd.una) ? t.snd.una : t.recovery.highRxt;
    s = sacks.skipSacked(s);
    if (seqLt(s, highSacked)) {
      const lost = sacks.isLost(s, mss);
      // The hole may end with our FIN (sequence number SND.END) if that was lost too.
      if ((lost || !canSendNew(t)) && retransmitAt(ctx, t, s, now) >= 0) continue;
    }
    // (2) new data, within the peer's window.
    if (canSendNew(t)) {
      if (!sendNewSegment(ctx, t, now)) return;
      continue;
    }
    // (4) rescue retransmission: once per recovery, the last unSACKed segment.
    if (t.recovery.rescueRxt < 0 || seqGt(t.snd.una, t.recovery.rescueRxt)) {
      let start = (t.snd.max - mss) >>> 0;
      if (seqLt(start, t.snd.una)) start = t.snd.una;
      start = sacks.skipSacked(start);
      let len = seqDiff(t.sndEnd, start);
      if (len > mss) len = mss;
      if (len > 0) {
        sendData(ctx, t, start, len, false, now);
        t.recovery.rescueRxt = t.recovery.recover;
        continue;
      }
    }
    return;
  }
}

/**
 * Loss recovery of a RACK connection (RFC 8985 with RFC 6937's window): while cwnd - pipe allows
 * an MSS, the first range RACK deemed lost and not yet retransmitted, else new data. Also after a
 * timeout, which marks everything outstanding lost (Linux's CA_Loss retransmission queue).
 */
function rackRecoveryOutput(ctx: TcpContext, t: Tcb, now: number): void {
  const mss = t.opts.mss;
  const rack = t.rack;
  const segs = rack.segs;
  for (let n = 0; n < 4096; n++) {
    if (t.cong.cwnd - segs.pipe(t.outstanding) < mss) return;
    const i = rack.nextLost();
    if (i >= 0) {
      if (retransmitAt(ctx, t, segs.start[i], now, segs.end[i]) < 0) return;
      continue;
    }
    if (!canSendNew(t) || !sendNewSegment(ctx, t, now)) return;
  }
}

/**
 * Sends one segment of new data (at most an MSS, within the peer's window), with the FIN if it
 * ends the data. False when nothing could be sent.
 */
export function sendNewSegment(ctx: TcpContext, t: Tcb, now: number): boolean {
  if (!canSendNew(t)) return false;
  const seq = t.snd.max;
  const end = t.sndEnd;
  let len = seqDiff(end, seq);
  if (len < 0) len = 0;
  if (len > t.opts.mss) len = t.opts.mss;
  const room = t.snd.wnd - seqDiff(seq, t.snd.una);
  if (len > room) len = room > 0 ? room : 0;
  const fin = t.snd.finQueued && seqDiff(end, seq) === len;
  if (len === 0 && !fin) return false;
  sendData(ctx, t, seq, len, fin, now);
  t.snd.nxt = t.snd.max;
  return true;
}

/** New data (or a FIN) waits beyond SND.MAX and the peer's window has room for it. */
function canSendNew(t: Tcb): boolean {
  const end = t.sndEnd;
  const room = t.snd.wnd - seqDiff(t.snd.max, t.snd.una);
  if (seqLt(t.snd.max, end)) return room > 0;
  return t.snd.finQueued && t.snd.max === end;
}
