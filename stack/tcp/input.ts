/**
 * The receive side of the state machine: RFC 9293 3.10.7 "SEGMENT ARRIVES" for a connection
 * that exists (SYN-SENT 3.10.7.3, and "otherwise" 3.10.7.4), with
 *
 * - PAWS before the sequence check (RFC 7323 5.3) and TS.Recent updates (4.3);
 * - the acceptability test, trimming to the window, and ACKs for unacceptable segments;
 * - RFC 5961: RST only on an exact RCV.NXT match (challenge ACK when merely in window), a
 *   challenge ACK for any SYN in a synchronized state, and the ACK range check against blind
 *   data injection;
 * - ACK processing: SND.UNA, RTT samples (RFC 6298 with Karn, or timestamps), congestion
 *   control, duplicate ACKs, fast retransmit and NewReno recovery (RFC 5681, 6582) or SACK
 *   recovery (RFC 6675), window updates (SND.WL1/WL2);
 * - text into the receive buffer (out-of-order data kept, immediate ACKs for it and for
 *   gap-filling data, otherwise every second full segment or the delayed-ACK timer);
 * - FIN processing and the closing states, TIME_WAIT.
 *
 * @module
 */

import { seqDiff, seqGeq, seqGt, seqInWindow, seqLeq, seqLt } from "../wire/seq.ts";
import { processAck, takeRttSample } from "./ack.ts";
import type { TcpContext } from "./context.ts";
import { connectionRefused, connectionReset } from "./errors.ts";
import { applySynOptions } from "./options.ts";
import { output } from "./output.ts";
import type { Segment } from "./segment.ts";
import {
  CLOSE_WAIT,
  CLOSED,
  CLOSING,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  LAST_ACK,
  SYN_RECEIVED,
  SYN_SENT,
  TIME_WAIT,
} from "./state.ts";
import { RTX_OFF, type Tcb } from "./tcb.ts";
import {
  sendAck,
  sendChallengeAck,
  sendLimitedAck,
  sendResetFor,
  tsRecentValid,
} from "./transmit.ts";
import {
  abort,
  allocateBuffers,
  enterTimeWait,
  finAcked,
  peerName,
  rtoAfterHandshake,
  setState,
} from "./transitions.ts";

/** Most full-sized segments one ACK covers inside a long receive burst. */
export const STRETCH_ACK_SEGMENTS = 16;

/** RFC 9293 3.10.7.3 and 3.10.7.4: a segment for the existing connection `t`. */
export function segmentArrives(ctx: TcpContext, t: Tcb, seg: Segment): void {
  const now = ctx.clock.now();
  if (t.state === SYN_SENT) {
    synSent(ctx, t, seg, now);
    return;
  }
  const o = seg.opts;
  // RFC 7323 3.2 says a non-RST segment without timestamps SHOULD be dropped once they are
  // negotiated; Linux accepts it (middleboxes strip options), and so do we: it skips PAWS and
  // gives no timestamp RTT sample, and is counted.
  if (t.opts.tsOk && !o.hasTimestamp && !seg.rst) ctx.counters.count("tcp.rx_no_timestamp");
  // RFC 7323 5.3 R1: PAWS. An old TSval marks an old duplicate: ACK it and drop it. A
  // reordered duplicate ACK is exempt (Linux's tcp_disordered_ack): it carries SACK news.
  if (
    t.opts.tsOk && o.hasTimestamp && !seg.rst && seqLt(o.tsVal, t.opts.tsRecent) &&
    tsRecentValid(t, now) && !disorderedAck(t, seg)
  ) {
    ctx.counters.count("tcp.paws_rejected");
    sendAck(ctx, t);
    return;
  }

  // --- first: check the sequence number (RFC 9293 3.10.7.4) ---
  const segLen = seg.segLen;
  let wnd = seqDiff(t.rcv.adv, t.rcv.nxt);
  if (wnd < 0) wnd = 0;
  let acceptable: boolean;
  if (segLen === 0) {
    acceptable = wnd === 0 ? seg.seq === t.rcv.nxt : seqInWindow(seg.seq, t.rcv.nxt, wnd);
  } else {
    acceptable = wnd > 0 &&
      (seqInWindow(seg.seq, t.rcv.nxt, wnd) ||
        seqInWindow((seg.seq + segLen - 1) >>> 0, t.rcv.nxt, wnd));
  }
  let textAllowed = true;
  if (!acceptable) {
    // "If the RCV.WND is zero, no segments will be acceptable, but special allowance should be
    // made to accept valid ACKs, URGs, and RSTs": take the ACK, drop the text.
    if (wnd === 0 && seg.seq === t.rcv.nxt) {
      textAllowed = false;
      ctx.counters.count("tcp.rx_zero_window_drop");
      t.ackPolicy.ackNow = true;
    } else {
      if (seg.rst) return;
      if (t.state === SYN_RECEIVED && seg.syn && !seg.hasAck && seg.seq === t.rcv.irs) {
        // Our SYN-ACK was lost and the peer repeats its SYN: send the SYN-ACK again.
        t.snd.nxt = t.snd.iss;
        output(ctx, t);
        return;
      }
      if (t.state === TIME_WAIT && seg.fin) {
        // RFC 9293 3.10.7.4: a retransmitted FIN restarts the 2 MSL timeout.
        t.timers.lingerAt = now + ctx.config.timeWaitMs;
        ctx.armTimer(t, t.timers.lingerAt);
      }
      ctx.counters.count("tcp.rx_out_of_window");
      if (seg.payloadLen > 0 && seqLeq((seg.seq + seg.payloadLen) >>> 0, t.rcv.nxt)) {
        reportDuplicate(ctx, t, seg.seq, (seg.seq + seg.payloadLen) >>> 0);
      }
      // Data always gets its duplicate ACK (the sender's loss recovery needs it); a bare
      // out-of-window ACK only within the rate limit, so two confused ends cannot loop
      // (Linux's tcp_oow_rate_limited; RFC 5961 7).
      if (seg.payloadLen > 0 || seg.fin) sendAck(ctx, t);
      else sendLimitedAck(ctx, t, "tcp.oow_acks");
      return;
    }
  }
  t.timers.lastRecvAt = now;
  t.timers.keepProbes = 0;
  // RFC 7323 4.3: remember the peer's clock for our echoes (after the acceptability test).
  if (
    t.opts.tsOk && o.hasTimestamp && seqGeq(o.tsVal, t.opts.tsRecent) &&
    seqLeq(seg.seq, t.opts.lastAckSent)
  ) {
    t.opts.tsRecent = o.tsVal;
    t.opts.tsRecentAge = now;
  }

  // --- second: the RST bit (RFC 5961 3.2) ---
  if (seg.rst) {
    if (seg.seq !== t.rcv.nxt) {
      // In the window but not exact: maybe blind. A genuine peer answers our ACK with an
      // exact RST.
      sendChallengeAck(ctx, t);
      return;
    }
    ctx.counters.count("tcp.rx_resets");
    switch (t.state) {
      case SYN_RECEIVED:
        // A passive open goes back to LISTEN (the listener stays); an active one is refused.
        abort(ctx, t, t.passive ? null : connectionRefused(peerName(t)), false);
        return;
      case ESTABLISHED:
      case FIN_WAIT_1:
      case FIN_WAIT_2:
      case CLOSE_WAIT:
        abort(ctx, t, connectionReset(peerName(t)), false);
        return;
      case TIME_WAIT:
        // RFC 1337: ignoring RST in TIME_WAIT prevents "TIME-WAIT assassination".
        return;
      default: // CLOSING, LAST_ACK
        abort(ctx, t, null, false);
        return;
    }
  }

  // --- fourth: the SYN bit (RFC 5961 4.2: challenge ACK, whatever the sequence number) ---
  if (seg.syn) {
    sendChallengeAck(ctx, t);
    return;
  }

  // --- fifth: the ACK field ---
  if (!seg.hasAck) return;
  const ack = seg.ack;
  if (t.state === SYN_RECEIVED) {
    if (!(seqLt(t.snd.una, ack) && seqLeq(ack, t.snd.max))) {
      sendResetFor(ctx, seg);
      return;
    }
    const l = t.listener;
    if (l !== null && l.acceptFull()) {
      // Like Linux: drop the ACK and stay half-open; the SYN-ACK will be repeated.
      ctx.counters.count("tcp.accept_queue_overflow");
      return;
    }
    establishPassive(ctx, t, seg, now);
  }
  // RFC 5961 5.2: SND.UNA - MAX.SND.WND <= SEG.ACK <= SND.NXT, else drop with an ACK.
  if (seqGt(ack, t.snd.max)) {
    ctx.counters.count("tcp.rx_ack_unsent");
    sendAck(ctx, t);
    return;
  }
  if (seqLt(ack, (t.snd.una - t.snd.maxWnd) >>> 0)) {
    ctx.counters.count("tcp.rx_ack_too_old");
    sendChallengeAck(ctx, t);
    return;
  }
  processAck(ctx, t, seg, now);
  if (t.state === LAST_ACK) {
    if (finAcked(t)) {
      ctx.release(t);
      return;
    }
  } else if (t.state === FIN_WAIT_1) {
    if (finAcked(t)) {
      setState(t, FIN_WAIT_2, now);
      if (t.userClosed) {
        // Orphaned: do not wait forever for the peer's FIN (Linux's tcp_fin_timeout).
        t.timers.lingerAt = now + ctx.config.finWait2Ms;
        ctx.armTimer(t, t.timers.lingerAt);
      }
    }
  } else if (t.state === CLOSING) {
    if (finAcked(t)) {
      enterTimeWait(ctx, t, now);
      if ((t.state as number) === CLOSED) return; // past the TIME_WAIT cap: ended at once
    }
  }

  // --- seventh: segment text ---
  // (A SYN never gets here: it was answered above, so text starts at SEG.SEQ.)
  let dataSeq = seg.seq;
  let dataOff = seg.payloadOff;
  let dataLen = textAllowed ? seg.payloadLen : 0;
  let fin = textAllowed && seg.fin;
  const finSeq = (seg.seq + seg.payloadLen) >>> 0;
  if (dataLen > 0 && seqLt(dataSeq, t.rcv.nxt)) {
    const cut = seqDiff(t.rcv.nxt, dataSeq);
    reportDuplicate(ctx, t, dataSeq, cut < dataLen ? t.rcv.nxt : (dataSeq + dataLen) >>> 0);
    if (cut >= dataLen) {
      dataLen = 0;
    } else {
      dataOff += cut;
      dataLen -= cut;
    }
    dataSeq = t.rcv.nxt;
  }
  if (dataLen > 0) {
    const st = t.state;
    if (st === ESTABLISHED || st === FIN_WAIT_1 || st === FIN_WAIT_2) {
      // Trim to what the buffer can hold (RFC 9293: segments beyond the window are dropped); what
      // the window already offered is always taken (the ring grows for it).
      let room = t.rcvBuf === null ? ctx.config.receiveBuffer : t.rcvBuf.free;
      const offered = seqDiff(t.rcv.adv, t.rcv.nxt);
      if (offered > room) room = offered;
      const right = seqDiff(dataSeq, t.rcv.nxt) + dataLen;
      if (right > room) {
        ctx.counters.count("tcp.rx_beyond_buffer");
        dataLen -= right - room;
        fin = false;
        t.ackPolicy.ackNow = true;
        if (dataLen < 0) dataLen = 0;
      }
      if (dataLen > 0 && !receiveText(ctx, t, seg, dataSeq, dataOff, dataLen, now)) return;
    }
  }

  // --- eighth: the FIN bit ---
  if (fin) {
    const st = t.state;
    if (st === ESTABLISHED || st === FIN_WAIT_1 || st === FIN_WAIT_2) {
      if (finSeq === t.rcv.nxt) {
        processFin(ctx, t, now);
      } else if (seqGt(finSeq, t.rcv.nxt)) {
        t.rcv.finSeq = finSeq; // after a hole: taken when the hole fills
        t.ackPolicy.ackNow = true;
        ctx.markDirty(t);
      }
    } else if (st === CLOSE_WAIT || st === CLOSING || st === LAST_ACK) {
      t.ackPolicy.ackNow = true; // a repeated FIN: acknowledge again
      ctx.markDirty(t);
    }
  }
  if (t.ackPolicy.ackNow) ctx.markDirty(t);
}

/**
 * A pure duplicate ACK that only arrived late: right sequence number, SEG.ACK = SND.UNA, the
 * same window, and a TSval within one RTO of TS.Recent (Linux's tcp_disordered_ack). PAWS
 * would drop it for its older timestamp, losing the duplicate-ACK and SACK information.
 */
function disorderedAck(t: Tcb, seg: Segment): boolean {
  return seg.hasAck && seg.payloadLen === 0 && !seg.syn && !seg.fin &&
    seg.seq === t.rcv.nxt && seg.ack === t.snd.una &&
    seg.window << t.snd.wscale === t.snd.wnd &&
    ((t.opts.tsRecent - seg.opts.tsVal) | 0) <= t.rtt.rto;
}

/** RFC 9293 3.10.7.3: a segment while our SYN is outstanding. */
function synSent(ctx: TcpContext, t: Tcb, seg: Segment, now: number): void {
  const ack = seg.ack;
  if (seg.hasAck && (seqLeq(ack, t.snd.iss) || seqGt(ack, t.snd.max))) {
    // An ACK for something we never sent: <SEQ=SEG.ACK><CTL=RST> (unless it is a RST).
    if (!seg.rst) sendResetFor(ctx, seg);
    return;
  }
  if (seg.rst) {
    // RFC 5961 3.2: in SYN-SENT a RST is acceptable if it acknowledges our SYN.
    if (seg.hasAck) {
      ctx.counters.count("tcp.connect_refused");
      abort(ctx, t, connectionRefused(peerName(t)), false);
    }
    return;
  }
  if (!seg.syn) return;
  t.rcv.irs = seg.seq;
  t.rcv.nxt = (seg.seq + 1) >>> 0;
  t.timers.lastRecvAt = now;
  // The window our SYN offered (unscaled, RFC 7323 2.2) is the initial right edge.
  const offered = ctx.config.receiveBuffer > 0xffff ? 0xffff : ctx.config.receiveBuffer;
  t.rcv.adv = (t.rcv.nxt + offered) >>> 0;
  applySynOptions(ctx, t, seg, now);
  // RFC 7323 2.2: the window of a SYN is never scaled.
  t.snd.wnd = seg.window;
  t.snd.wl1 = seg.seq;
  t.snd.wl2 = ack;
  t.snd.maxWnd = seg.window;
  if (seg.hasAck) {
    t.snd.una = ack;
    if (seqLt(t.snd.nxt, ack)) t.snd.nxt = ack;
    takeRttSample(t, seg, now, 1);
    t.timers.rtxCount = 0;
    t.timers.rtxMode = RTX_OFF;
    t.timers.rtxAt = 0;
    t.timers.lingerAt = 0;
    setState(t, ESTABLISHED, now);
    allocateBuffers(ctx, t);
    rtoAfterHandshake(t);
    t.ackPolicy.ackNow = true;
    ctx.markDirty(t);
    ctx.counters.count("tcp.active_opens_established");
    if (t.user !== null) t.user.onEstablished();
  } else {
    // Simultaneous open (RFC 9293 3.5, figure 8): SYN-RECEIVED, our SYN again with an ACK.
    setState(t, SYN_RECEIVED, now);
    t.snd.nxt = t.snd.iss;
    t.timers.rtxMode = RTX_OFF;
    ctx.markDirty(t);
  }
}

/** SYN-RECEIVED and the handshake's ACK is acceptable: ESTABLISHED (RFC 9293 3.10.7.4). */
function establishPassive(ctx: TcpContext, t: Tcb, seg: Segment, now: number): void {
  setState(t, ESTABLISHED, now);
  // RFC 9293 3.10.7.4 (SYN-RECEIVED): SND.WND <- SEG.WND, SND.WL1 <- SEG.SEQ, SND.WL2 <- SEG.ACK.
  t.snd.wnd = seg.window << t.snd.wscale;
  t.snd.wl1 = seg.seq;
  t.snd.wl2 = seg.ack;
  if (t.snd.wnd > t.snd.maxWnd) t.snd.maxWnd = t.snd.wnd;
  t.timers.lingerAt = 0;
  allocateBuffers(ctx, t);
  rtoAfterHandshake(t);
  const l = t.listener;
  if (l !== null) {
    t.listener = null;
    l.synRecvDone(t);
    ctx.counters.count("tcp.passive_opens_established");
    l.enqueue(t);
  } else if (t.user !== null) {
    t.user.onEstablished(); // the active side of a simultaneous open
  }
}

/**
 * Data already received arrived again: the next ACK reports it in its first SACK block, a DSACK
 * (RFC 2883 4), so the sender learns its retransmission was not needed (RACK widens its
 * reordering window on it, RFC 8985 6.2).
 */
function reportDuplicate(ctx: TcpContext, t: Tcb, start: number, end: number): void {
  if (!t.opts.sackOk || !seqLt(start, end)) return;
  t.ackPolicy.dsackStart = start;
  t.ackPolicy.dsackEnd = end;
  ctx.counters.count("tcp.dsacks_sent");
}

/** In-order or out-of-order text (RFC 9293 3.10.7.4 step 7). False if the connection ended. */
function receiveText(
  ctx: TcpContext,
  t: Tcb,
  seg: Segment,
  dataSeq: number,
  off: number,
  len: number,
  now: number,
): boolean {
  if (t.userClosed) {
    // Nobody will read it (RFC 2525 2.17, and what Linux does): reset the connection.
    ctx.counters.count("tcp.rst_data_after_close");
    abort(ctx, t, null, true);
    return false;
  }
  if (t.rcvBuf === null) allocateBuffers(ctx, t);
  const rcv = t.rcvBuf!;
  // The peer's segment size, to tell full-sized segments (RFC 1122 4.2.3.2), as Linux's
  // tcp_measure_rcv_mss: a super-frame's gso_size, else the length, at most our MSS.
  const segSize = seg.gsoSize > 0 ? seg.gsoSize : len;
  if (segSize > t.ackPolicy.rcvMss) {
    t.ackPolicy.rcvMss = segSize < t.opts.advMss ? segSize : t.opts.advMss;
  }
  if (dataSeq === t.rcv.nxt) {
    const hadHoles = rcv.oooCount > 0;
    const adv = rcv.store(dataSeq, t.rcv.nxt, seg.buf, off, len);
    t.rcv.nxt = (t.rcv.nxt + adv) >>> 0;
    t.ackPolicy.bytesUnacked += adv;
    ctx.counters.count("tcp.rx_bytes", adv);
    if (hadHoles) {
      t.ackPolicy.ackNow = true; // RFC 5681 4.2: ACK at once a segment that fills a gap
    } else if (t.ackPolicy.bytesUnacked >= 2 * t.ackPolicy.rcvMss) {
      // RFC 5681 4.2: at least every second full-sized segment. The ACK leaves when the burst
      // of frames being read is done (one ACK covers what arrived together, as with GRO), but
      // no later than STRETCH_ACK_SEGMENTS segments into a long burst, and at once for a
      // super-frame (it is many segments already; Linux ACKs each GRO packet so).
      t.ackPolicy.ackNow = true;
      if (
        seg.gsoSize > 0 || t.ackPolicy.bytesUnacked >= STRETCH_ACK_SEGMENTS * t.ackPolicy.rcvMss
      ) sendAck(ctx, t);
    } else if (t.timers.delackAt === 0) {
      t.timers.delackAt = now + ctx.config.delayedAckMs;
      ctx.armTimer(t, t.timers.delackAt);
    }
    if (t.rcv.finSeq !== -1 && t.rcv.nxt === t.rcv.finSeq) processFin(ctx, t, now);
    if (t.user !== null) t.user.onReadable();
  } else {
    // An ACK waiting to report the range this burst extended goes now, before a new range
    // takes the first SACK block: one ACK per burst would report only the last three ranges, and
    // the sender would take the ones it never heard of for lost (as Linux ACKs each
    // out-of-order run that GRO cannot merge).
    if (t.ackPolicy.ackNow && t.opts.sackOk && !rcv.extendsLatest(dataSeq)) sendAck(ctx, t);
    const r = rcv.store(dataSeq, t.rcv.nxt, seg.buf, off, len);
    ctx.counters.count(r < 0 ? "tcp.ooo_dropped" : "tcp.ooo_segments");
    t.ackPolicy.ackNow = true; // RFC 5681 4.2: an out-of-order segment is ACKed at once (with SACK)
  }
  ctx.markDirty(t);
  return true;
}

/** The peer's FIN in sequence (RFC 9293 3.10.7.4 step 8). */
function processFin(ctx: TcpContext, t: Tcb, now: number): void {
  t.rcv.nxt = (t.rcv.nxt + 1) >>> 0;
  t.rcv.fin = true;
  t.rcv.finSeq = -1;
  if (t.rcvBuf !== null) t.rcvBuf.clearOutOfOrder();
  t.ackPolicy.ackNow = true;
  ctx.markDirty(t);
  switch (t.state) {
    case ESTABLISHED:
      setState(t, CLOSE_WAIT, now);
      break;
    case FIN_WAIT_1:
      setState(t, CLOSING, now); // our FIN is not acknowledged yet (else FIN_WAIT_2)
      ctx.counters.count("tcp.simultaneous_closes");
      break;
    case FIN_WAIT_2:
      enterTimeWait(ctx, t, now);
      break;
  }
  if (t.user !== null) t.user.onReadable();
}
