/**
 * Building and sending segments: IPv4 header at offset 14 of a frame that starts at
 * `ctx.txFrameOff` of its buffer (an IPv6 frame starts 20 bytes earlier, so that its TCP header
 * is at the same place), then the TCP header, options and payload (copied from the send
 * ring with `copyWithin`, so a data segment allocates nothing). With segmentation offload
 * (tso.ts) a data segment may be a super-frame of many MSS with a partial checksum. Every
 * segment carries the current ACK, the window (never shrinking, receiver SWS avoidance,
 * RFC 9293 3.8.6.2.2) and the options in use (timestamps, SACK blocks); SYNs carry MSS, window
 * scale, SACK-permitted and timestamps; RSTs follow RFC 9293 3.10.7.1; challenge ACKs are rate
 * limited (RFC 5961 7).
 *
 * @module
 */

import { IP_PROTO_TCP, writeIpv4Header } from "../wire/ipv4.ts";
import { seqDiff, seqGt, seqLt } from "../wire/seq.ts";
import {
  TCP_ACK,
  TCP_FIN,
  TCP_MIN_HEADER_LEN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  writeTcpHeader,
} from "../wire/tcp.ts";
import { tcpOptionsLength, writeTcpOptions } from "../wire/tcp_options.ts";
import type { TcpContext } from "./context.ts";
import type { Segment } from "./segment.ts";
import { SYN_RECEIVED } from "./state.ts";
import { RTX_RETRANSMIT, rtxArmed, type Tcb } from "./tcb.ts";
import { setTxOffload, tsoMaxPayload, writePartialChecksum, writePartialChecksum6 } from "./tso.ts";
import { copyBytes } from "../wire/bytes.ts";
import { IPV6_HEADER_LEN } from "../wire/ipv6.ts";

/** Offset of the IPv4 header from the start of a transmit frame (after the Ethernet header). */
export const TX_IP_OFF = 14;

/** Offset of the TCP header from the start of a transmit frame (IPv4 header without options). */
export const TX_TCP_OFF = 34;

/** Bytes of TCP timestamps option as laid out (NOP NOP TS). */
export const TS_OPTION_LEN = 12;

/** The largest TSval/TSecr age for which TS.Recent is valid (RFC 7323 5.5: 24 days). */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;

/** Our TSval now (RFC 7323 4.1: a millisecond clock plus the connection's offset). */
export function tsNow(t: Tcb, now: number): number {
  return (Math.floor(now) + t.opts.tsOffset) >>> 0;
}

/** True while TS.Recent is usable for PAWS (RFC 7323 5.5). */
export function tsRecentValid(t: Tcb, now: number): boolean {
  return now - t.opts.tsRecentAge < PAWS_IDLE_MS;
}

/**
 * The window field to advertise (RFC 9293 3.8.6.2.2 receiver SWS avoidance: the right edge moves
 * only by at least min(buffer / 2, MSS); RFC 7323 2.4: it does not move left, except by less
 * than one scale unit when RCV.NXT moved by a non-multiple of it, which the RFC allows and
 * senders must tolerate; rounding down keeps every offered byte backed by buffer space).
 * Updates RCV.ADV when the edge grows. Returns the 16-bit field value.
 */
export function windowField(ctx: TcpContext, t: Tcb): number {
  const shift = t.rcv.wscale;
  const rcv = t.rcvBuf;
  const max = rcv === null ? ctx.config.receiveBuffer : rcv.max;
  let cur = seqDiff(t.rcv.adv, t.rcv.nxt);
  if (cur < 0) cur = 0;
  // The peer has used most of what was offered: a bigger ring, if the memory budget allows (the
  // window is always backed by ring the connection holds; memory.ts). Linux grows its receive
  // buffer on the same evidence (tcp_rcv_space_adjust).
  if (rcv !== null && cur < rcv.cap >> 1 && rcv.cap < rcv.max) rcv.expand();
  let free = rcv === null ? max : rcv.free;
  if (t.userClosed) free = 0;
  let win = free;
  if (win <= cur) {
    win = cur;
  } else {
    const step = max / 2 < t.opts.advMss ? max / 2 : t.opts.advMss;
    if (win - cur < step) win = cur;
  }
  let field = win >>> shift;
  if (field > 0xffff) field = 0xffff;
  const edge = (t.rcv.nxt + (field << shift)) >>> 0;
  if (seqGt(edge, t.rcv.adv)) t.rcv.adv = edge;
  return field;
}

/**
 * Fills `ctx.txOpts` for a non-SYN segment of `t`: timestamps (RFC 7323 3.2: in every segment
 * once negotiated) and SACK blocks (RFC 2018 4: while out-of-order data is held).
 */
function fillOptions(ctx: TcpContext, t: Tcb, now: number): number {
  const o = ctx.txOpts;
  o.reset();
  if (t.opts.tsOk) {
    o.hasTimestamp = true;
    o.tsVal = tsNow(t, now);
    o.tsEcr = t.opts.tsRecent;
  }
  const max = t.opts.tsOk ? 3 : 4;
  if (t.opts.sackOk && t.ackPolicy.dsackStart !== t.ackPolicy.dsackEnd) {
    // RFC 2883 4: the duplicate first, then the usual blocks.
    o.sackBlocks[0] = t.ackPolicy.dsackStart;
    o.sackBlocks[1] = t.ackPolicy.dsackEnd;
    o.sackCount = 1;
    if (t.rcvBuf !== null && t.rcvBuf.oooCount > 0) {
      o.sackCount += t.rcvBuf.sackBlocks(o.sackBlocks.subarray(2), max - 1);
    }
  } else if (t.opts.sackOk && t.rcvBuf !== null && t.rcvBuf.oooCount > 0) {
    o.sackCount = t.rcvBuf.sackBlocks(o.sackBlocks, max);
  }
  return tcpOptionsLength(o);
}

/**
 * Writes IPv4 + TCP headers and options into `buf` (frame at `ctx.txFrameOff`) for a segment of
 * `t` with `payloadLen` bytes already at their place, fills the checksums and sends it; a
 * super-frame of `gsoSize`-byte segments when `gsoSize` > 0.
 */
function emit(
  ctx: TcpContext,
  t: Tcb,
  buf: Uint8Array,
  seq: number,
  flags: number,
  window: number,
  optLen: number,
  payloadLen: number,
  gsoSize: number,
): boolean {
  const h = ctx.txHeader;
  h.srcPort = t.localPort;
  h.dstPort = t.remotePort;
  h.seq = seq;
  h.ack = (flags & TCP_ACK) !== 0 ? t.rcv.nxt : 0;
  h.flags = flags;
  h.window = window;
  h.urgent = 0;
  h.optionsLen = optLen;
  return emitRaw(
    ctx,
    buf,
    t.localAddr,
    t.remoteAddr,
    optLen,
    payloadLen,
    gsoSize,
    t.local6,
    t.remote6,
  );
}

/**
 * Writes the headers from `ctx.txHeader`/`ctx.txOpts`, checksums, and sends. With offloads on
 * (`ctx.txMeta`) a segment with data leaves with a partial checksum for the kernel to
 * complete, and as a super-frame when `gsoSize` > 0 (tso.ts): the metadata goes with it to
 * `sendIpv4`. Other segments are checksummed here (a header is cheap to sum) and go plain.
 */
function emitRaw(
  ctx: TcpContext,
  buf: Uint8Array,
  src: number,
  dst: number,
  optLen: number,
  payloadLen: number,
  gsoSize: number,
  src6: Uint8Array | null = null,
  dst6: Uint8Array | null = null,
): boolean {
  const tcpOff = ctx.txFrameOff + TX_TCP_OFF;
  const tcpLen = TCP_MIN_HEADER_LEN + optLen + payloadLen;
  if (src6 !== null && dst6 !== null) {
    return emit6(ctx, buf, tcpOff, tcpLen, optLen, gsoSize, src6, dst6);
  }
  const ipOff = ctx.txFrameOff + TX_IP_OFF;
  const ip = ctx.ipHeader;
  ip.src = src;
  ip.dst = dst;
  ip.protocol = IP_PROTO_TCP;
  ip.ttl = ctx.ttl;
  ip.id = ctx.nextIpId();
  ip.tos = 0;
  // DF: the MSS is clamped to the route MTU (RFC 9293 3.7.2 / RFC 1191).
  ip.dontFragment = true;
  ip.moreFragments = false;
  ip.fragmentOffset = 0;
  ip.payloadLen = tcpLen;
  writeIpv4Header(buf, ipOff, ip);
  writeTcpHeader(buf, tcpOff, ctx.txHeader);
  if (optLen > 0) writeTcpOptions(buf, tcpOff + TCP_MIN_HEADER_LEN, ctx.txOpts);
  let meta = ctx.txMeta;
  if (meta !== null && payloadLen > 0) {
    writePartialChecksum(buf, tcpOff, tcpLen, src, dst);
    setTxOffload(meta, TCP_MIN_HEADER_LEN + optLen, gsoSize);
  } else {
    ctx.txView.wrap(buf, tcpOff, tcpLen).fillChecksum(src, dst);
    meta = null;
  }
  countSent(ctx, payloadLen, gsoSize);
  return ctx.sendIpv4(buf, ipOff, 20 + tcpLen, meta);
}

/**
 * {@link emitRaw} over IPv6: the IPv6 header (RFC 8200 3; the hop limit is the stack's TTL)
 * right before the TCP header at `tcpOff`, the checksum over the IPv6 pseudo-header (RFC 8200
 * 8.1), partial for the kernel when offloading (gso type TCPV6 for a super-frame).
 */
function emit6(
  ctx: TcpContext,
  buf: Uint8Array,
  tcpOff: number,
  tcpLen: number,
  optLen: number,
  gsoSize: number,
  src6: Uint8Array,
  dst6: Uint8Array,
): boolean {
  const ipOff = tcpOff - IPV6_HEADER_LEN;
  buf[ipOff] = 0x60;
  buf[ipOff + 1] = 0;
  buf[ipOff + 2] = 0;
  buf[ipOff + 3] = 0;
  buf[ipOff + 4] = tcpLen >>> 8;
  buf[ipOff + 5] = tcpLen & 0xff;
  buf[ipOff + 6] = IP_PROTO_TCP;
  buf[ipOff + 7] = ctx.ttl;
  copyBytes(src6, 0, buf, ipOff + 8, 16);
  copyBytes(dst6, 0, buf, ipOff + 24, 16);
  writeTcpHeader(buf, tcpOff, ctx.txHeader);
  if (optLen > 0) writeTcpOptions(buf, tcpOff + TCP_MIN_HEADER_LEN, ctx.txOpts);
  const payloadLen = tcpLen - TCP_MIN_HEADER_LEN - optLen;
  let meta = ctx.txMeta;
  if (meta !== null && payloadLen > 0) {
    writePartialChecksum6(buf, tcpOff, tcpLen, buf, ipOff + 8, ipOff + 24);
    setTxOffload(meta, TCP_MIN_HEADER_LEN + optLen, gsoSize, IPV6_HEADER_LEN);
  } else {
    ctx.txView.wrap(buf, tcpOff, tcpLen).fillChecksum6(buf, ipOff + 8, ipOff + 24);
    meta = null;
  }
  countSent(ctx, payloadLen, gsoSize);
  return ctx.sendIpv6(buf, ipOff, IPV6_HEADER_LEN + tcpLen, meta);
}

/** Counts a segment sent, or the segments a super-frame stands for. */
function countSent(ctx: TcpContext, payloadLen: number, gsoSize: number): void {
  if (gsoSize > 0) {
    // Counted as the segments the kernel cuts it into (Linux counts tcp_skb_pcount).
    ctx.counters.count("tcp.tx_segments", Math.ceil(payloadLen / gsoSize));
    ctx.counters.count("tcp.tso_frames");
  } else {
    ctx.counters.count("tcp.tx_segments");
  }
}

/** Bookkeeping after sending anything that carries our ACK. */
function ackSent(t: Tcb): void {
  t.opts.lastAckSent = t.rcv.nxt;
  t.ackPolicy.dsackEnd = t.ackPolicy.dsackStart; // a DSACK is reported once (RFC 2883 4)
  t.ackPolicy.ackNow = false;
  t.ackPolicy.bytesUnacked = 0;
  t.timers.delackAt = 0;
}

/**
 * Sends one segment of `t` from sequence number `seq` with up to `len` payload bytes from the
 * send buffer, and FIN when `fin` and all `len` bytes fit. The payload is cut so that header
 * options (timestamps, SACK blocks) and data stay within the MSS (RFC 6691); with segmentation
 * offload on, `len` beyond one MSS makes a super-frame instead (tso.ts), each of whose segments
 * keeps that rule. Arms the retransmission timer, starts an RTT measurement (Karn: not on
 * retransmissions), counts retransmissions (in segments). Returns the sequence space sent
 * (payload bytes, plus one for a FIN).
 */
export function sendData(
  ctx: TcpContext,
  t: Tcb,
  seq: number,
  len: number,
  fin: boolean,
  now: number,
): number {
  const optLen = fillOptions(ctx, t, now);
  // t.opts.mss already allows for the timestamp option; SACK blocks take from the payload.
  const room = t.opts.mss + (t.opts.tsOk ? TS_OPTION_LEN : 0) - optLen;
  let gsoSize = 0;
  if (len > room) {
    if (ctx.txMeta !== null && len > t.opts.mss) {
      // A super-frame of room-sized segments (Linux's gso_size is the payload per segment with
      // the options in force, tcp_current_mss).
      const max = tsoMaxPayload(room, optLen);
      if (len > max) {
        len = max;
        fin = false;
      }
      gsoSize = room;
    } else {
      len = room;
      fin = false;
    }
  }
  const snd = t.sndBuf;
  let buf = ctx.ctlBuf;
  if (len > 0 && snd !== null) {
    if (gsoSize > 0 && snd.txArea < ctx.tsoTxArea) snd.growTxArea(ctx.tsoTxArea);
    buf = snd.mem;
    snd.copyOut(
      seqDiff(seq, t.snd.base),
      len,
      ctx.txFrameOff + TX_TCP_OFF + TCP_MIN_HEADER_LEN + optLen,
    );
  } else {
    len = 0;
    gsoSize = 0;
  }
  let flags = TCP_ACK;
  if (len > 0 && seqDiff(seq, t.snd.base) + len === snd!.len) flags |= TCP_PSH;
  if (fin) flags |= TCP_FIN;
  const retransmit = seqLt(seq, t.snd.max);
  emit(ctx, t, buf, seq, flags, windowField(ctx, t), optLen, len, gsoSize);
  ackSent(t);
  const used = len + (fin ? 1 : 0);
  const end = (seq + used) >>> 0;
  if (t.opts.trackSent && used > 0) {
    t.rack.sent(seq, end, t.snd.max, now, t.rack.segs.pipe(t.outstanding));
  }
  if (t.recovery.active) t.prr.out += used;
  if (retransmit) {
    const segs = gsoSize > 0 ? Math.ceil(len / gsoSize) : 1;
    if (t.recovery.active && t.undo.retrans >= 0) t.undo.retrans += segs;
    t.retransmits += segs;
    ctx.counters.count("tcp.retransmits", segs);
  } else if (t.rttSeq < 0 && !t.opts.tsOk) {
    t.rttSeq = seq;
    t.rttStart = now;
  }
  if (seqGt(end, t.snd.max)) t.snd.max = end;
  if (!rtxArmed(t.timers.rtxMode)) {
    t.timers.rtxMode = RTX_RETRANSMIT;
    t.timers.rtxAt = now + t.rtt.rto;
    ctx.armTimer(t, t.timers.rtxAt);
  }
  return used;
}

/** Sends a bare ACK: <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> (RFC 9293 3.10.7.4). */
export function sendAck(ctx: TcpContext, t: Tcb): void {
  sendAckAt(ctx, t, t.snd.nxt);
}

/**
 * Sends an ACK with sequence number `seq`: SND.UNA - 1 makes a keepalive or zero-window probe
 * (RFC 1122 4.2.3.6; the peer finds it unacceptable and answers with an ACK).
 */
export function sendAckAt(ctx: TcpContext, t: Tcb, seq: number): void {
  const now = ctx.clock.now();
  const optLen = fillOptions(ctx, t, now);
  emit(ctx, t, ctx.ctlBuf, seq, TCP_ACK, windowField(ctx, t), optLen, 0, 0);
  ackSent(t);
}

/**
 * An ACK within the connection's budget of answers to suspicious segments: at most
 * `challengeAckLimit` per second (RFC 5961 7; per connection, so one connection's count tells an
 * attacker nothing about another's). `counter` names what it was for. False when over budget.
 */
export function sendLimitedAck(ctx: TcpContext, t: Tcb, counter: string): boolean {
  const now = ctx.clock.now();
  if (now - t.challengeWindowStart >= 1000) {
    t.challengeWindowStart = now;
    t.challengeAcks = 0;
  }
  if (t.challengeAcks >= ctx.config.challengeAckLimit) {
    ctx.counters.count("tcp.ack_rate_limited");
    return false;
  }
  t.challengeAcks++;
  ctx.counters.count(counter);
  sendAck(ctx, t);
  return true;
}

/** A challenge ACK (RFC 5961 3.2, 4.2, 5.2), rate limited (RFC 5961 7). */
export function sendChallengeAck(ctx: TcpContext, t: Tcb): void {
  sendLimitedAck(ctx, t, "tcp.challenge_acks");
}

/** Sends RST <SEQ=SND.NXT><CTL=RST> (RFC 9293 3.10.4 ABORT; ACK included, as Linux does). */
export function sendReset(ctx: TcpContext, t: Tcb): void {
  const now = ctx.clock.now();
  const o = ctx.txOpts;
  o.reset();
  if (t.opts.tsOk) {
    // RFC 7323 5.2: RSTs SHOULD carry timestamps too.
    o.hasTimestamp = true;
    o.tsVal = tsNow(t, now);
    o.tsEcr = t.opts.tsRecent;
  }
  const optLen = tcpOptionsLength(o);
  emit(ctx, t, ctx.ctlBuf, t.snd.nxt, TCP_RST | TCP_ACK, 0, optLen, 0, 0);
  ctx.counters.count("tcp.tx_resets");
}

/**
 * Answers a segment that has no connection (RFC 9293 3.10.7.1): if it had ACK,
 * <SEQ=SEG.ACK><CTL=RST>; otherwise <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>. Never answers a
 * RST.
 */
export function sendResetFor(ctx: TcpContext, seg: Segment): void {
  if (seg.rst) return;
  const h = ctx.txHeader;
  h.srcPort = seg.dstPort;
  h.dstPort = seg.srcPort;
  if (seg.hasAck) {
    h.seq = seg.ack;
    h.ack = 0;
    h.flags = TCP_RST;
  } else {
    h.seq = 0;
    h.ack = (seg.seq + seg.segLen) >>> 0;
    h.flags = TCP_RST | TCP_ACK;
  }
  h.window = 0;
  h.urgent = 0;
  h.optionsLen = 0;
  ctx.txOpts.reset();
  ctx.counters.count("tcp.tx_resets");
  emitReply(ctx, seg, 0);
}

/** Sends the headers built for an answer to `seg`, from its destination to its source. */
function emitReply(ctx: TcpContext, seg: Segment, optLen: number): void {
  if (seg.v6) emitRaw(ctx, ctx.ctlBuf, seg.dst, seg.src, optLen, 0, 0, seg.dst6, seg.src6);
  else emitRaw(ctx, ctx.ctlBuf, seg.dst, seg.src, optLen, 0, 0);
}

/**
 * Sends our SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED) with MSS, window scale, SACK-permitted and
 * timestamps as negotiated so far (RFC 9293 3.7.1, RFC 7323 2.2/3.2, RFC 2018 2). The window of
 * a SYN is never scaled (RFC 7323 2.2).
 */
export function sendSyn(ctx: TcpContext, t: Tcb, now: number): void {
  const o = ctx.txOpts;
  o.reset();
  o.mss = t.opts.advMss;
  if (t.opts.wsOk) o.windowScale = t.rcv.wscale;
  o.sackPermitted = t.opts.sackOk;
  if (t.opts.tsOk) {
    o.hasTimestamp = true;
    o.tsVal = tsNow(t, now);
    o.tsEcr = t.state === SYN_RECEIVED ? t.opts.tsRecent : 0;
  }
  const optLen = tcpOptionsLength(o);
  const free = t.rcvBuf === null ? ctx.config.receiveBuffer : t.rcvBuf.free;
  const window = free > 0xffff ? 0xffff : free;
  const flags = t.state === SYN_RECEIVED ? TCP_SYN | TCP_ACK : TCP_SYN;
  const retransmit = seqLt(t.snd.iss, t.snd.max);
  emit(ctx, t, ctx.ctlBuf, t.snd.iss, flags, window, optLen, 0, 0);
  if (flags & TCP_ACK) {
    // The window offered in the SYN-ACK is the initial right edge (an active open sets it when
    // the peer's SYN tells RCV.NXT).
    t.rcv.adv = (t.rcv.nxt + window) >>> 0;
    ackSent(t);
  }
  t.snd.nxt = (t.snd.iss + 1) >>> 0;
  if (seqGt(t.snd.nxt, t.snd.max)) t.snd.max = t.snd.nxt;
  if (retransmit) {
    t.retransmits++;
    ctx.counters.count("tcp.retransmits");
  } else if (!t.opts.tsOk) {
    t.rttSeq = t.snd.iss;
    t.rttStart = now;
  }
  if (t.timers.rtxMode !== RTX_RETRANSMIT) {
    t.timers.rtxMode = RTX_RETRANSMIT;
    t.timers.rtxAt = now + t.rtt.rto;
    ctx.armTimer(t, t.timers.rtxAt);
  }
}

/**
 * A stateless SYN-ACK carrying a SYN cookie as its sequence number (RFC 4987 3.6), with the
 * options the SYN offered (window scale `wscale` is ours; timestamps echo the SYN's TSval).
 */
export function sendCookieSynAck(
  ctx: TcpContext,
  seg: Segment,
  cookie: number,
  mss: number,
  tsVal: number,
): void {
  const so = seg.opts;
  const cfg = ctx.config;
  const h = ctx.txHeader;
  h.srcPort = seg.dstPort;
  h.dstPort = seg.srcPort;
  h.seq = cookie;
  h.ack = (seg.seq + 1) >>> 0;
  h.flags = TCP_SYN | TCP_ACK;
  const w = cfg.receiveBuffer;
  h.window = w > 0xffff ? 0xffff : w;
  h.urgent = 0;
  const o = ctx.txOpts;
  o.reset();
  o.mss = mss;
  if (cfg.windowScaling && so.windowScale >= 0) o.windowScale = ctx.windowScale;
  o.sackPermitted = cfg.sack && so.sackPermitted;
  if (cfg.timestamps && so.hasTimestamp) {
    o.hasTimestamp = true;
    o.tsVal = tsVal;
    o.tsEcr = so.tsVal;
  }
  h.optionsLen = tcpOptionsLength(o);
  ctx.counters.count("tcp.syncookies_sent");
  emitReply(ctx, seg, h.optionsLen);
}

/** Zero-window probe: an ACK one below SND.UNA, which the peer must answer (RFC 9293 3.8.6.1). */
export function sendWindowProbe(ctx: TcpContext, t: Tcb): void {
  ctx.counters.count("tcp.window_probes");
  sendAckAt(ctx, t, (t.snd.una - 1) >>> 0);
}
