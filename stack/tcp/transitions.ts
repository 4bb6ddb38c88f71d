/**
 * State transitions shared by the input path, the timers and the layer: entering a state,
 * TIME_WAIT, aborting, buffers for a synchronized connection.
 *
 * @module
 */

import { formatIpv6 } from "../wire/address6.ts";
import { seqGt } from "../wire/seq.ts";
import type { TcpContext } from "./context.ts";
import { sendAck, sendReset } from "./transmit.ts";
import { RecvBuffer } from "./recv_buffer.ts";
import { SendBuffer } from "./send_buffer.ts";
import { TIME_WAIT } from "./state.ts";
import { RTX_OFF, type Tcb } from "./tcb.ts";

/** Moves `t` to `state`, noting when. */
export function setState(t: Tcb, state: number, now: number): void {
  t.state = state;
  t.stateSince = now;
}

/** Our FIN was sent and acknowledged. */
export function finAcked(t: Tcb): boolean {
  return t.snd.finQueued && seqGt(t.snd.una, t.sndEnd);
}

/** Allocates the buffers of a connection that reached ESTABLISHED. */
export function allocateBuffers(ctx: TcpContext, t: Tcb): void {
  const c = ctx.config;
  if (t.sndBuf === null) t.sndBuf = new SendBuffer(ctx.txArea, c.sendBuffer, undefined, ctx.memory);
  if (t.rcvBuf === null) {
    t.rcvBuf = new RecvBuffer(c.receiveBuffer, c.maxOutOfOrder, undefined, ctx.memory);
  }
}

/** RFC 6298 5.7's fallback RTO, ms. */
export const SYN_TIMEOUT_FALLBACK_RTO_MS = 3000;

/**
 * The handshake completed: RFC 6298 5.7, if the SYN (or SYN-ACK) timed out and no RTT sample was
 * taken since (Karn), data transmission starts with an RTO of 3 s, as Linux's tcp_init_transfer
 * does (TCP_TIMEOUT_FALLBACK).
 */
export function rtoAfterHandshake(t: Tcb): void {
  if (t.timers.synTimedOut && t.rtt.samples === 0) {
    t.rtt.fallback(SYN_TIMEOUT_FALLBACK_RTO_MS);
  }
}

/** Ends `t` abnormally: optional RST to the peer, `err` for the user, then CLOSED. */
export function abort(ctx: TcpContext, t: Tcb, err: Error | null, rst: boolean): void {
  if (rst) sendReset(ctx, t);
  if (err !== null && t.error === null) t.error = err;
  ctx.release(t);
}

/** Enters TIME_WAIT (RFC 9293 3.6.1): 2*MSL, then CLOSED. */
export function enterTimeWait(ctx: TcpContext, t: Tcb, now: number): void {
  t.sndBuf?.release();
  // Past the TIME_WAIT cap the connection ends here, as Linux does past tcp_max_tw_buckets (the
  // RFC 6191 protections of TIME_WAIT are given up for this one tuple; counted).
  if (!ctx.admitTimeWait(t)) {
    ctx.counters.count("tcp.time_wait_overflow");
    sendAck(ctx, t); // the peer's FIN is still acknowledged (Linux sends it before tcp_done)
    ctx.release(t);
    return;
  }
  setState(t, TIME_WAIT, now);
  t.timers.rtxMode = RTX_OFF;
  t.timers.rtxAt = 0;
  t.timers.delackAt = 0;
  t.timers.keepAt = 0;
  t.sndBuf = null; // everything was acknowledged
  t.timers.lingerAt = now + ctx.config.timeWaitMs;
  ctx.armTimer(t, t.timers.lingerAt);
  ctx.counters.count("tcp.time_wait");
}

/** "a.b.c.d:port" of the peer, for error messages. */
export function peerName(t: Tcb): string {
  if (t.remote6 !== null) return `[${formatIpv6(t.remote6)}]:${t.remotePort}`;
  const a = t.remoteAddr;
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}:${t.remotePort}`;
}
