/**
 * What a RACK-TLP connection (rack.ts) does with each ACK and on its timers: the ACK's delivered
 * segments update RACK, DSACKs widen the reordering window, segments RACK deems lost start (or
 * continue) a fast recovery whose window PRR sets (prr.ts), and whatever is left is timed: the
 * reordering timer for segments not yet past the window (RFC 8985 6.3), the tail loss probe when
 * nothing else would (7), else the retransmission timer. Output sends the lost segments first
 * (output.ts).
 *
 * @module
 */

import { seqGeq, seqGt, seqLt } from "../wire/seq.ts";
import type { TcpContext } from "./context.ts";
import { enterRecovery, retransmitAt } from "./recovery.ts";
import { WC_DEL_ACK_MS } from "./rack.ts";
import { INITIAL_SSTHRESH } from "./congestion/cc.ts";
import type { Segment } from "./segment.ts";
import { CLOSE_WAIT, CLOSING, ESTABLISHED, FIN_WAIT_1, LAST_ACK } from "./state.ts";
import { RTX_OFF, RTX_PROBE, RTX_REORDER, RTX_RETRANSMIT, rtxArmed, type Tcb } from "./tcb.ts";

/** After a retransmission timeout SND.UNA < recover until what was outstanding is acknowledged. */
export function inLossRecovery(t: Tcb): boolean {
  return t.recovery.active || seqLt(t.snd.una, t.recovery.recover);
}

/**
 * The ACK `seg` was processed (SACK blocks marked, SND.UNA advanced): TLP's episode, loss
 * detection, recovery and PRR's window, and the timer. `delivered` is PRR's DeliveredData;
 * `dsack` whether the ACK carried a DSACK; `advanced` whether it moved SND.UNA, `sacked` whether
 * it SACKed something new.
 */
export function rackAck(
  ctx: TcpContext,
  t: Tcb,
  seg: Segment,
  delivered: number,
  dsack: boolean,
  advanced: boolean,
  sacked: boolean,
  now: number,
): void {
  const rack = t.rack;
  if (rack.tlpEnd >= 0) tlpAck(ctx, t, seg.ack, dsack, advanced || sacked, now);
  detectAndRecover(ctx, t, now);
  if (t.recovery.active) {
    // PRR, unless the congestion control sets the window itself (BBR, in ack.ts).
    if (t.cc.control === undefined) {
      t.cong.cwnd = t.prr.onAck(
        delivered,
        rack.segs.pipe(t.outstanding),
        t.cong.ssthresh,
        t.opts.mss,
      );
    }
    ctx.markDirty(t);
  } else if (advanced) {
    // RFC 8985 7.2: the PTO restarts on an ACK of new data (and after new data is sent).
    scheduleProbe(ctx, t, now);
  }
}

/**
 * RFC 8985 6.2 step 5 and 6.3: marks what is lost, enters recovery for it (not during a timeout's
 * recovery: RFC 6582's "recover" rule), and arms the reordering timer for the rest.
 */
function detectAndRecover(ctx: TcpContext, t: Tcb, now: number): void {
  const rack = t.rack;
  const segs = rack.segs;
  if (segs.count === 0) return;
  const pendingBefore = segs.pendingBytes;
  const reo = rack.reoWnd(inLossRecovery(t), t.recovery.reordering, t.opts.mss, t.rtt.srtt);
  const timeout = rack.detectLoss(now, reo);
  if (segs.pendingBytes > pendingBefore) {
    ctx.counters.count("tcp.rack_marked_lost");
    if (!t.recovery.active && seqGeq(t.snd.una, t.recovery.recover)) {
      enterRecovery(ctx, t, now);
      if (rack.tlpEnd >= 0) rack.tlpEnd = -1; // the probe's episode is this recovery now
    }
    ctx.markDirty(t);
  }
  if (timeout > 0) {
    t.timers.rtxMode = RTX_REORDER;
    t.timers.rtxAt = now + timeout;
    ctx.armTimer(t, t.timers.rtxAt);
  }
}

/** The reordering timer fired (RFC 8985 6.3): look again, recover, send. */
export function reorderTimeout(ctx: TcpContext, t: Tcb, now: number, output: () => void): void {
  t.timers.rtxMode = RTX_OFF;
  const wasInRecovery = t.recovery.active;
  detectAndRecover(ctx, t, now);
  if (t.recovery.active && !wasInRecovery && t.cc.control === undefined) {
    // No ACK to measure delivery by: PRR lets the first retransmission go (Linux's
    // tcp_rack_reo_timeout calls tcp_cwnd_reduction with one delivered segment).
    t.cong.cwnd = t.prr.onAck(0, t.rack.segs.pipe(t.outstanding), t.cong.ssthresh, t.opts.mss);
  }
  output();
  if (!rtxArmed(t.timers.rtxMode) && t.outstanding > 0) {
    t.timers.rtxMode = RTX_RETRANSMIT;
    t.timers.rtxAt = now + t.rtt.rto;
    ctx.armTimer(t, t.timers.rtxAt);
  }
}

/** States that send data, where a probe makes sense. */
function sending(t: Tcb): boolean {
  const s = t.state;
  return s === ESTABLISHED || s === CLOSE_WAIT || s === FIN_WAIT_1 || s === CLOSING ||
    s === LAST_ACK;
}

/**
 * RFC 8985 7.2: arms the probe timeout (PTO) instead of the retransmission timer when data is
 * outstanding, no recovery runs and no probe is out: 2 * SRTT (1 s before a sample), plus the
 * worst-case delayed ACK when only one segment is in flight, and never later than the RTO (a
 * probe due at the RTO's time is still a probe, as Linux's tcp_schedule_loss_probe: it repairs a
 * single loss without collapsing the window).
 */
export function scheduleProbe(ctx: TcpContext, t: Tcb, now: number): void {
  if (!t.opts.rackOn || !ctx.config.tlp || t.outstanding === 0 || t.rack.tlpEnd >= 0) return;
  if (inLossRecovery(t) || !sending(t)) return;
  if (t.timers.rtxMode !== RTX_RETRANSMIT && t.timers.rtxMode !== RTX_PROBE) return;
  let pto = t.rtt.samples > 0 ? 2 * t.rtt.srtt : 1000;
  pto += t.outstanding <= t.opts.mss ? WC_DEL_ACK_MS : 2;
  const rtoAt = t.timers.rtxMode === RTX_RETRANSMIT ? t.timers.rtxAt : now + t.rtt.rto;
  t.timers.rtxMode = RTX_PROBE;
  t.timers.rtxAt = now + pto < rtoAt ? now + pto : rtoAt;
  ctx.armTimer(t, t.timers.rtxAt);
}

/**
 * The probe timeout fired (RFC 8985 7.3): send one new segment if the peer's window allows,
 * else the last segment again; then the retransmission timer, not another probe.
 * `sendNew` sends one new segment and returns true when it could.
 */
export function probeTimeout(
  ctx: TcpContext,
  t: Tcb,
  now: number,
  sendNew: () => boolean,
): void {
  t.timers.rtxMode = RTX_OFF;
  if (t.outstanding === 0) return;
  const rack = t.rack;
  ctx.counters.count("tcp.tlp_probes");
  if (sendNew()) {
    rack.tlpRetrans = false;
  } else {
    const i = rack.lastUnsacked();
    if (i < 0) return;
    const end = rack.segs.end[i];
    // The last MSS sent (RFC 8985 7.3: "the most recently sent segment"), not only a bare FIN
    // that followed the data: Linux's probe is its last skb, which carries the FIN with data.
    let seq = (end - t.opts.mss) >>> 0;
    if (seqLt(seq, t.snd.una)) seq = t.snd.una;
    seq = t.sacks.skipSacked(seq);
    if (retransmitAt(ctx, t, seq, now, end) < 0) return;
    rack.tlpRetrans = true;
  }
  rack.tlpEnd = t.snd.max;
  t.timers.rtxMode = RTX_RETRANSMIT;
  t.timers.rtxAt = now + t.rtt.rto;
  ctx.armTimer(t, t.timers.rtxAt);
}

/**
 * RFC 8985 7.4, as Linux's tcp_process_tlp_ack: a probe that was new data, or whose
 * retransmission the receiver reports as a duplicate (DSACK), or a duplicate ACK at its end (both
 * copies arrived) ends the episode; an ACK beyond it without a DSACK means the probe repaired a
 * loss: the window is reduced once, as a fast recovery would.
 */
function tlpAck(
  ctx: TcpContext,
  t: Tcb,
  ack: number,
  dsack: boolean,
  progress: boolean,
  now: number,
): void {
  const rack = t.rack;
  if (seqLt(ack, rack.tlpEnd)) return;
  if (!rack.tlpRetrans || dsack) {
    if (dsack) ctx.counters.count("tcp.tlp_spurious");
    rack.tlpEnd = -1;
  } else if (seqGt(ack, rack.tlpEnd)) {
    rack.tlpEnd = -1;
    if (!t.recovery.active) {
      ctx.counters.count("tcp.tlp_recoveries");
      t.cc.onLoss(t.cong, t.outstanding, now);
      // As Linux's tcp_end_cwnd_reduction: only an algorithm that set ssthresh lowers cwnd.
      if (t.cong.ssthresh < INITIAL_SSTHRESH) t.cong.cwnd = t.cong.ssthresh;
    }
  } else if (!progress) {
    rack.tlpEnd = -1;
  }
}
