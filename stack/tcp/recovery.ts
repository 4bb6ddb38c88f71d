/**
 * Loss recovery: duplicate ACKs (RFC 5681 2), fast retransmit and NewReno recovery with its
 * partial ACKs (RFC 5681 3.2, RFC 6582), SACK-based recovery entry by IsLost (RFC 6675 5),
 * limited transmit (RFC 3042), and leaving recovery on the full acknowledgment.
 *
 * Reordering is not loss: a fast recovery whose retransmission turns out unneeded is undone (a
 * timeout is not: restoring the window into go-back-N turned rare timeouts into storms). With
 * timestamps (RFC 7323) the ACK that covers the first retransmitted octet tells it: if it echoes
 * a TSval older than the retransmission's, the original arrived (RFC 3522 Eifel detection, RFC
 * 4015's response: cwnd and ssthresh go back to what they were, as Linux's
 * tcp_undo_cwnd_reduction). The distance that was mistaken for a loss then raises the
 * connection's duplicate-ACK threshold (`t.recovery.reordering`, Linux's tp->reordering; at most
 * 127), so the same reordering is not taken for a loss again.
 *
 * @module
 */

import { seqDiff, seqGeq, seqGt, seqLt } from "../wire/seq.ts";
import type { TcpContext } from "./context.ts";
import type { Segment } from "./segment.ts";
import type { Tcb } from "./tcb.ts";
import { sendData, tsNow } from "./transmit.ts";

/** SEG.ACK = SND.UNA: a duplicate ACK per RFC 5681 2 (or one with new SACK information). */
export function duplicateAck(
  ctx: TcpContext,
  t: Tcb,
  seg: Segment,
  windowChanged: boolean,
  sackChanged: boolean,
  now: number,
): void {
  if (seg.payloadLen !== 0 || seg.fin || t.outstanding === 0) return;
  if (windowChanged && !sackChanged) return;
  ctx.counters.count("tcp.dup_acks");
  if (t.opts.rackOn) {
    // RACK decides losses by time (rack_recovery.ts); the count only drives limited transmit.
    t.recovery.dupAcks++;
    ctx.markDirty(t);
    return;
  }
  if (t.recovery.active) {
    // RFC 5681 3.2 (4): each further dupack means a segment left the network: inflate.
    if (!t.opts.sackOk && t.cc.control === undefined) t.cong.cwnd += t.opts.mss;
    ctx.markDirty(t);
    return;
  }
  t.recovery.dupAcks++;
  const lost = t.opts.sackOk && t.sacks.isLost(t.snd.una, t.opts.mss);
  // RFC 6582 3.2 (2): no new fast retransmit for data sent before a timeout's "recover".
  if (
    (t.recovery.dupAcks >= t.recovery.reordering || lost) && seqGeq(t.snd.una, t.recovery.recover)
  ) {
    enterRecovery(ctx, t, now);
  } else {
    ctx.markDirty(t); // RFC 3042 limited transmit
  }
}

/** Fast retransmit and the start of loss recovery (RFC 5681 3.2, RFC 6582 3.2, RFC 6675 5). */
export function enterRecovery(ctx: TcpContext, t: Tcb, now: number): void {
  ctx.counters.count("tcp.fast_retransmits");
  markUndo(ctx, t, now);
  t.undo.distance = t.opts.sackOk
    ? Math.ceil(seqDiff(t.sacks.highest(t.snd.una), t.snd.una) / t.opts.mss)
    : 0;
  t.recovery.active = true;
  t.recovery.recover = t.snd.max;
  t.cc.onLoss(t.cong, t.outstanding, now);
  t.rttSeq = -1;
  const model = t.cc.control !== undefined; // BBR sets cwnd itself, from the next ACK
  if (t.opts.rackOn) {
    // PRR sets cwnd on each ACK (ack.ts); output sends what RACK marked lost.
    t.prr.start(t.outstanding);
    t.recovery.highRxt = t.snd.una;
  } else if (t.opts.sackOk) {
    if (!model) t.cong.cwnd = t.cong.ssthresh;
    t.recovery.highRxt = t.snd.una;
    retransmitFirst(ctx, t, now);
    t.recovery.rescueRxt = t.recovery.highRxt;
  } else {
    retransmitFirst(ctx, t, now);
    if (!model) t.cong.cwnd = t.cong.ssthresh + 3 * t.opts.mss;
  }
  ctx.markDirty(t);
}

/** Largest reordering estimate, segments (Linux's sysctl_tcp_max_reordering is 300). */
export const MAX_REORDERING = 127;

/**
 * A fast recovery begins: what to restore if it proves spurious, and the TSval its first
 * retransmission carries (sent in this same millisecond), when timestamps are on.
 */
export function markUndo(ctx: TcpContext, t: Tcb, now: number): void {
  if (!ctx.config.undo) return;
  t.undo.priorCwnd = t.cong.cwnd;
  t.undo.priorSsthresh = t.cong.ssthresh;
  t.undo.una = t.snd.una;
  t.undo.ts = t.opts.tsOk ? tsNow(t, now) : 0;
  if (t.undo.ts === 0 && t.opts.tsOk) t.undo.ts = 1; // 0 means "none"
  t.undo.retrans = 0;
}

/**
 * An ACK of new data while an undo is possible: if it covers the first retransmitted octet and
 * echoes a TSval from before the retransmission, the original got there: undo. Decided once per
 * episode. Returns true when it undid.
 */
export function checkUndo(ctx: TcpContext, t: Tcb, seg: Segment): boolean {
  if (t.undo.ts === 0 || !seqGt(seg.ack, t.undo.una)) return false;
  const undoTs = t.undo.ts;
  t.undo.ts = 0;
  const o = seg.opts;
  if (!o.hasTimestamp || o.tsEcr === 0 || !seqLt(o.tsEcr, undoTs)) return false;
  undoRecovery(ctx, t);
  return true;
}

/**
 * A DSACK (RFC 2883) reported [left, right) received twice. Without timestamps this is how a
 * recovery shows itself spurious (Linux's undo_retrans): every segment it retransmitted comes
 * back as a duplicate, so the originals had all arrived. Returns true when it undid.
 */
export function dsackUndo(ctx: TcpContext, t: Tcb, left: number, right: number): boolean {
  if (t.undo.retrans <= 0 || seqLt(left, t.undo.una) || seqGt(right, t.recovery.recover)) {
    return false;
  }
  t.undo.retrans -= Math.ceil(seqDiff(right, left) / t.opts.mss);
  if (t.undo.retrans > 0) return false;
  ctx.counters.count("tcp.dsack_undo");
  undoRecovery(ctx, t);
  return true;
}

/**
 * The current fast recovery was spurious: cwnd and ssthresh go back (RFC 4015's response, Linux's
 * tcp_undo_cwnd_reduction), the distance mistaken for a loss raises the reordering estimate, RACK
 * widens its window, and the recovery ends if it has not already.
 */
function undoRecovery(ctx: TcpContext, t: Tcb): void {
  t.undo.ts = 0;
  t.undo.retrans = -1;
  if (t.undo.priorCwnd > t.cong.cwnd) t.cong.cwnd = t.undo.priorCwnd;
  if (t.undo.priorSsthresh > t.cong.ssthresh) t.cong.ssthresh = t.undo.priorSsthresh;
  if (t.undo.rto) {
    // The timeout was spurious: the loss state ends and nothing it marked lost is resent.
    t.undo.rto = false;
    ctx.counters.count("tcp.spurious_rto_undone");
    t.rack.unmarkLost();
    t.recovery.recover = t.snd.una;
    t.recovery.highRxt = t.snd.una;
    ctx.markDirty(t);
    return;
  }
  ctx.counters.count("tcp.spurious_recovery_undone");
  if (t.opts.rackOn) {
    t.rack.recoveryEnded();
    t.rack.widen(t.snd.una, t.snd.max);
  }
  const r = t.undo.distance + 1;
  if (r > t.recovery.reordering) {
    t.recovery.reordering = r < MAX_REORDERING ? r : MAX_REORDERING;
    t.sacks.dupThresh = t.recovery.reordering;
    ctx.counters.count("tcp.reordering_raised");
  }
  if (t.recovery.active) {
    t.recovery.active = false;
    t.recovery.dupAcks = 0;
    t.recovery.recover = t.snd.una;
    t.recovery.highRxt = t.snd.una;
  }
  ctx.markDirty(t);
}

/** Retransmits the segment at SND.UNA (up to the next SACKed range), FIN included if due. */
export function retransmitFirst(ctx: TcpContext, t: Tcb, now: number): void {
  retransmitAt(ctx, t, t.snd.una, now);
}

/**
 * Retransmits one segment from the unSACKed `seq`: at most an MSS, up to the next SACKed range
 * (or `upTo`, SND.MAX by default), ending with our FIN if that hole holds it. HighRxt moves past it; a retransmission
 * of the segment at SND.UNA is remembered for {@link lostRetransmission}. Returns the octets sent,
 * or -1 when there is nothing to send at `seq`.
 */
export function retransmitAt(
  ctx: TcpContext,
  t: Tcb,
  seq: number,
  now: number,
  upTo: number = t.snd.max,
): number {
  let limit = upTo;
  if (t.opts.sackOk) limit = t.sacks.nextSackedAbove(seq, limit);
  let len = seqDiff(limit, seq);
  if (len > t.opts.mss) len = t.opts.mss;
  if (len <= 0) return -1;
  let dataLen = seqDiff(t.sndEnd, seq);
  if (dataLen > len) dataLen = len;
  if (dataLen < 0) dataLen = 0;
  const used = sendData(ctx, t, seq, dataLen, t.snd.finQueued && dataLen < len, now);
  const end = (seq + used) >>> 0;
  if (seqGt(end, t.recovery.highRxt)) t.recovery.highRxt = end;
  if (seq === t.snd.una) {
    t.recovery.rxtSentMax = t.snd.max;
    t.recovery.rxtUna = seq;
  }
  return used;
}

/**
 * During SACK recovery: the retransmission of the segment at SND.UNA is lost when data sent after
 * it has been SACKed (beyond the reordering allowance) while SND.UNA has not moved: RACK's rule
 * (RFC 8985 6.2, "a segment sent later was delivered"), by order of sending rather than time, as
 * Linux's tcp_mark_lost_retrans did before RACK. It is sent again at once instead of waiting for
 * the retransmission timer (that hole holds every cumulative ACK back). Returns true when it did.
 */
export function lostRetransmission(ctx: TcpContext, t: Tcb, now: number): boolean {
  if (t.opts.rackOn || !t.recovery.active || !t.opts.sackOk || t.recovery.rxtUna !== t.snd.una) {
    return false;
  }
  const beyond = (t.recovery.rxtSentMax + (t.recovery.reordering - 1) * t.opts.mss) >>> 0;
  if (!seqGt(t.sacks.highest(t.snd.una), beyond)) return false;
  ctx.counters.count("tcp.lost_retransmits");
  retransmitFirst(ctx, t, now);
  return true;
}

/**
 * An ACK of new data during recovery: the full acknowledgment of RecoveryPoint ends it
 * (RFC 6582 3.2 (3): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), which avoids a
 * burst); without SACK a partial acknowledgment retransmits the next hole and deflates the
 * window by the amount acknowledged, adding back one SMSS if that was at least one SMSS
 * (RFC 6582 3.2 (5)). With SACK, the RFC 6675 send loop takes care of the holes.
 */
export function recoveryAck(ctx: TcpContext, t: Tcb, acked: number, now: number): void {
  const mss = t.opts.mss;
  const model = t.cc.control !== undefined; // BBR restores its own window
  if (seqGeq(t.snd.una, t.recovery.recover)) {
    t.recovery.active = false;
    t.recovery.dupAcks = 0;
    const flight = t.outstanding;
    const w = (flight > mss ? flight : mss) + mss;
    if (!model) t.cong.cwnd = t.cong.ssthresh < w ? t.cong.ssthresh : w;
    ctx.counters.count("tcp.recoveries");
    if (t.opts.rackOn) t.rack.recoveryEnded();
  } else if (!t.opts.sackOk) {
    retransmitFirst(ctx, t, now);
    if (!model) {
      t.cong.cwnd = t.cong.cwnd > acked ? t.cong.cwnd - acked : 0;
      if (acked >= mss) t.cong.cwnd += mss;
      if (t.cong.cwnd < mss) t.cong.cwnd = mss;
    }
  }
}
