/**
 * ACK processing (RFC 9293 3.10.7.4, fifth step) for the synchronized states: SACK blocks into
 * the scoreboard (RFC 2018, 6675), new data acknowledged (send buffer, RTT sample per RFC 6298
 * with Karn's rule or per RFC 7323 with timestamps, congestion control, the retransmission
 * timer per RFC 6298 5.2/5.3), duplicate ACKs (recovery.ts), and window updates (SND.WL1/WL2).
 *
 * @module
 */

import { seqDiff, seqGeq, seqGt, seqLeq, seqLt } from "../wire/seq.ts";
import type { TcpContext } from "./context.ts";
import {
  checkUndo,
  dsackUndo,
  duplicateAck,
  enterRecovery,
  lostRetransmission,
  recoveryAck,
} from "./recovery.ts";
import type { Segment } from "./segment.ts";
import { CA_LOSS, CA_OPEN, CA_RECOVERY } from "./congestion/cc.ts";
import { inLossRecovery, rackAck } from "./rack_recovery.ts";
import { RTX_OFF, RTX_PERSIST, RTX_RETRANSMIT, rtxArmed, type Tcb } from "./tcb.ts";
import { tsNow } from "./transmit.ts";

/** Takes an RTT sample from an ACK of new data (RFC 7323 4.1 with timestamps, else Karn). */
export function takeRttSample(t: Tcb, seg: Segment, now: number, expected: number): void {
  const o = seg.opts;
  let r = -1;
  t.cong.latestRtt = 0;
  if (t.opts.tsOk && o.hasTimestamp && o.tsEcr !== 0) {
    const d = (tsNow(t, now) - o.tsEcr) >>> 0;
    if (d < 0x7fffffff) r = d;
    t.rttSeq = -1;
  } else if (t.rttSeq >= 0 && seqGt(seg.ack, t.rttSeq)) {
    r = now - t.rttStart;
    t.rttSeq = -1;
  }
  if (r < 0) return;
  t.rtt.sample(r, expected);
  t.cong.latestRtt = r > 0 ? r : 1;
  t.rack.rttSample(r, now);
}

/**
 * RFC 2883 4: the first SACK block reports a duplicate (a DSACK) when it lies below the
 * cumulative ACK or within the second block (Linux's tcp_check_dsack).
 */
export function isDsack(blocks: Uint32Array, count: number, ack: number): boolean {
  if (count === 0) return false;
  if (seqLt(blocks[0], ack)) return true;
  return count > 1 && seqGeq(blocks[0], blocks[2]) && seqLeq(blocks[1], blocks[3]);
}

/** ACK processing of RFC 9293 3.10.7.4 step 5 for the synchronized states. */
export function processAck(ctx: TcpContext, t: Tcb, seg: Segment, now: number): void {
  const ack = seg.ack;
  const wndField = seg.window << t.snd.wscale;
  const windowChanged = wndField !== t.snd.wnd;
  const una = t.snd.una;
  const rack = t.opts.rackOn ? t.rack : null;
  const segs = t.rack.segs;
  const sackedBefore = segs.sackedBytes;
  if (t.opts.trackSent) {
    t.rack.ackTsEcr = seg.opts.hasTimestamp ? seg.opts.tsEcr : 0;
    t.rack.tsOffset = t.opts.tsOffset;
    if (t.rack.rateOn) t.rack.rate.begin(segs.pipe(t.outstanding));
  }
  let sackChanged = false;
  let dsack = false;
  if (t.opts.sackOk && seg.opts.sackCount > 0) {
    const b = seg.opts.sackBlocks;
    const n = seg.opts.sackCount;
    dsack = isDsack(b, n, ack);
    if (dsack) ctx.counters.count("tcp.dsacks_received");
    for (let i = dsack ? 1 : 0; i < n; i++) {
      const left = b[2 * i];
      const right = b[2 * i + 1];
      if (t.sacks.add(left, right, una, t.snd.max)) {
        sackChanged = true;
        if (rack !== null) rack.sacked(left, right, now);
      }
    }
    if (dsack) {
      if (rack !== null) rack.widen(t.snd.una, t.snd.max);
      dsackUndo(ctx, t, b[0], b[1]);
    }
  }
  let freed = 0;
  const advanced = seqGt(ack, una);
  if (advanced) {
    freed = ackNewData(ctx, t, seg, now);
  } else if (ack === una) {
    duplicateAck(ctx, t, seg, windowChanged, sackChanged, now);
  }
  const pendingBefore = segs.pendingBytes;
  if (rack !== null) {
    if (advanced || sackChanged || dsack) {
      const delivered = seqDiff(t.snd.una, una) + segs.sackedBytes - sackedBefore;
      rackAck(ctx, t, seg, delivered, dsack, advanced, sackChanged, now);
    }
  } else if (sackChanged) {
    if (t.recovery.active) lostRetransmission(ctx, t, now);
    else if (
      // Any ACK with new SACK information may show the loss, not only a duplicate one: one that
      // also moved SND.UNA can leave the next hole IsLost with no duplicate ACK ever to follow
      // (the rest SACKed, the window full of SACKed data), which only the timer would end.
      // Linux and RACK (RFC 8985 6.2) look at every such ACK.
      t.opts.sackOk && t.outstanding > 0 && seqGeq(t.snd.una, t.recovery.recover) &&
      t.sacks.isLost(t.snd.una, t.opts.mss)
    ) {
      enterRecovery(ctx, t, now);
    }
  }
  // Window update (RFC 9293 3.10.7.4): only from a segment not older than the last update.
  // An ACK that advances SND.UNA always updates (Linux's tcp_may_update_window): the window is
  // relative to the ACK, and keeping an older window with a newer SND.UNA would move the right
  // edge beyond what the peer offered (a retransmission carries a lower SEG.SEQ).
  if (
    seqGt(ack, una) ||
    (ack === una &&
      (seqLt(t.snd.wl1, seg.seq) || (t.snd.wl1 === seg.seq && seqLeq(t.snd.wl2, ack))))
  ) {
    const grew = wndField > t.snd.wnd;
    t.snd.wnd = wndField;
    t.snd.wl1 = seg.seq;
    t.snd.wl2 = ack;
    if (wndField > t.snd.maxWnd) t.snd.maxWnd = wndField;
    if (wndField > 0 && t.timers.rtxMode === RTX_PERSIST) {
      t.timers.rtxMode = RTX_OFF;
      t.timers.rtxAt = 0;
      t.timers.probes = 0;
    }
    if (grew) ctx.markDirty(t);
  }
  const cc = t.cc;
  if (cc.control !== undefined && t.opts.trackSent && (advanced || sackChanged)) {
    // A model-based algorithm (BBR) sets the window from this ACK's delivery-rate sample.
    const rs = t.rack.rate.finish(t.rack.minRtt);
    const lost = segs.pendingBytes - pendingBefore;
    rs.losses = lost > 0 ? lost : 0;
    const state = t.recovery.active ? CA_RECOVERY : inLossRecovery(t) ? CA_LOSS : CA_OPEN;
    const pipe = segs.pipe(t.outstanding);
    cc.control(t.cong, rs, pipe, t.rack.rate.delivered, state, now);
    if (cc.appLimited) t.rack.rate.markAppLimited(pipe);
    ctx.markDirty(t);
  }
  // Last: a writer woken now may send at once, and must see the updated window.
  if (freed > 0 && t.user !== null) t.user.onWritable();
}

/** SND.UNA < SEG.ACK: new data acknowledged. Returns the data bytes freed. */
function ackNewData(ctx: TcpContext, t: Tcb, seg: Segment, now: number): number {
  const ack = seg.ack;
  const acked = seqDiff(ack, t.snd.una);
  const flightBefore = t.outstanding;
  let dataAcked = 0;
  const snd = t.sndBuf;
  if (snd !== null) {
    let d = seqDiff(ack, t.snd.base);
    if (d > snd.len) d = snd.len;
    if (d > 0) {
      snd.consume(d);
      t.snd.base = (t.snd.base + d) >>> 0;
      dataAcked = d;
    }
  }
  const mss = t.opts.mss;
  const expected = flightBefore > 2 * mss ? Math.ceil(flightBefore / (2 * mss)) : 1;
  takeRttSample(t, seg, now, expected);
  t.snd.una = ack;
  if (seqLt(t.snd.nxt, ack)) t.snd.nxt = ack;
  if (t.opts.sackOk) t.sacks.advance(ack);
  if (t.opts.trackSent) t.rack.acked(ack, now);
  t.timers.rtxCount = 0;
  t.timers.probes = 0;
  if (t.undo.ts !== 0 && checkUndo(ctx, t, seg)) {
    // A spurious recovery was undone: the window is back, nothing to deflate.
  } else if (t.recovery.active) {
    recoveryAck(ctx, t, acked, now);
  } else {
    t.recovery.dupAcks = 0;
    // Grow only while the window is actually used (RFC 7661 spirit; Linux's cwnd-limited test).
    if (2 * flightBefore >= t.cong.cwnd) t.cc.onAck(t.cong, acked, now, t.rtt.srtt);
  }
  // RFC 6298 5.2 and 5.3.
  if (t.outstanding === 0) {
    if (rtxArmed(t.timers.rtxMode)) {
      t.timers.rtxMode = RTX_OFF;
      t.timers.rtxAt = 0;
    }
  } else {
    t.timers.rtxMode = RTX_RETRANSMIT;
    t.timers.rtxAt = now + t.rtt.rto;
    ctx.armTimer(t, t.timers.rtxAt);
  }
  ctx.markDirty(t);
  return dataAcked;
}
