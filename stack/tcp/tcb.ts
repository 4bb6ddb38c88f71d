/**
 * The transmission control block (RFC 9293 3.3.1): the state of one connection, grouped by the
 * mechanism that owns it, as gVisor splits a connection's state into its sender and receiver
 * (pkg/tcpip/transport/tcp/snd.go, rcv.go) and Linux groups tcp_sock's fields
 * (include/linux/tcp.h):
 *
 * - `t.snd` (send_seq.ts): the send sequence space (SND.UNA, SND.NXT, SND.WND, ISS, ...),
 *   written by output and by ACK processing;
 * - `t.rcv` (recv_seq.ts): the receive sequence space (RCV.NXT, the advertised edge, IRS, the
 *   peer's FIN), written by segment arrival;
 * - `t.opts` (negotiated.ts): what the handshake settled (MSS, window scaling, timestamps with
 *   TS.Recent, SACK) and the loss detection chosen with it;
 * - `t.timers` (tcb_timers.ts): the deadlines on the layer's wheel and the counts of what they
 *   sent;
 * - `t.cong` (cong_state.ts): cwnd and ssthresh, what the algorithm `t.cc` is handed;
 * - `t.recovery` (recovery_state.ts) and `t.undo` (undo_state.ts): loss recovery and the undo of
 *   a spurious one, beside the SACK scoreboard, RACK-TLP and PRR objects;
 * - `t.ackPolicy` (ack_policy.ts): when the receiver acknowledges;
 * - `t.sndBuf`, `t.rcvBuf`: the data.
 *
 * The identity (the socket pair, the state), the intrusive links (connection table, accept
 * queue, timer wheel, flush list), the RTT estimator and the user's settings stay on the block
 * itself. Every group is created with the block and holds plain fields updated in place by the
 * input and output paths: nothing is allocated per segment.
 *
 * @module
 */

import { AckPolicy } from "./ack_policy.ts";
import type { CongestionControl } from "./congestion/cc.ts";
import { CongState } from "./cong_state.ts";
import { NegotiatedOptions } from "./negotiated.ts";
import { Prr } from "./prr.ts";
import { Rack } from "./rack.ts";
import type { RecvBuffer } from "./recv_buffer.ts";
import { RecvSeq } from "./recv_seq.ts";
import { RecoveryState } from "./recovery_state.ts";
import type { RttEstimator } from "./rto.ts";
import type { SackScoreboard } from "./sack_scoreboard.ts";
import type { SendBuffer } from "./send_buffer.ts";
import { SendSeq } from "./send_seq.ts";
import { CLOSED, type TcpState } from "./state.ts";
import { TcbTimers } from "./tcb_timers.ts";
import type { TimerNode } from "./timer_wheel.ts";
import { UndoState } from "./undo_state.ts";

export {
  RTX_OFF,
  RTX_PERSIST,
  RTX_PROBE,
  RTX_REORDER,
  RTX_RETRANSMIT,
  rtxArmed,
} from "./tcb_timers.ts";

/** What the socket API above a connection is told. Called synchronously from the stack. */
export interface TcbUser {
  /** In-order data became readable, or the peer's FIN arrived (EOF). */
  onReadable(): void;
  /** Send-buffer space was freed (or sending ended). */
  onWritable(): void;
  /** The handshake completed. */
  onEstablished(): void;
  /** The connection reached CLOSED; `error` on the control block says why if abnormally. */
  onClosed(): void;
}

/** The owner of a passive connection until it is accepted. */
export interface TcbListener {
  /** A half-open connection of this listener left SYN_RECEIVED (either way). */
  synRecvDone(t: Tcb): void;
  /** True when the accept queue has no room for another connection. */
  acceptFull(): boolean;
  /** The connection completed its handshake: queue it for accept(). */
  enqueue(t: Tcb): void;
}

/** One connection. */
export class Tcb implements TimerNode {
  // --- identity (RFC 9293 3.3.1: the socket pair) ---
  /**
   * Our address: the IPv4 address, or for an IPv6 connection its address key (a keyed 32-bit
   * digest of `local6`, never 0: what the table hash, the ISN, SYN cookies and the timestamp
   * offset take, so those cover all 128 bits without a second code path).
   */
  readonly localAddr: number;
  /** Our port. */
  readonly localPort: number;
  /** Peer address (the IPv4 address, or the key of `remote6`; see `localAddr`). */
  readonly remoteAddr: number;
  /** IPv6 connections: our address (16 bytes); null over IPv4. */
  readonly local6: Uint8Array | null;
  /** IPv6 connections: the peer's address (16 bytes); null over IPv4. */
  readonly remote6: Uint8Array | null;
  /** Peer port. */
  readonly remotePort: number;
  /** Hash of the 4-tuple (connection table bucket). */
  readonly hash: number;
  /** Next connection in the same table bucket. */
  hashNext: Tcb | null = null;
  /** The connection's state. */
  state: TcpState = CLOSED;
  /** Time the connection entered its current state (TIME_WAIT reuse). */
  stateSince = 0;
  /** True for a passive open (created from a listener's SYN). */
  passive = false;
  /** The listener that owns this connection until accepted, or null. */
  listener: TcbListener | null = null;
  /** Next in a listener's accept queue. */
  acceptNext: Tcb | null = null;
  /** The socket object, or null (not accepted yet, or orphaned by close()). */
  user: TcbUser | null = null;
  /** True while in the connection table. */
  inTable = false;

  // --- the variables, grouped by the mechanism that owns them ---
  /** SND.UNA, SND.NXT, SND.WND and the rest of the send sequence space (send_seq.ts). */
  readonly snd: SendSeq = new SendSeq();
  /** RCV.NXT, the advertised window edge, the peer's FIN (recv_seq.ts). */
  readonly rcv: RecvSeq = new RecvSeq();
  /** MSS, window scaling, timestamps, SACK as negotiated (negotiated.ts). */
  readonly opts: NegotiatedOptions = new NegotiatedOptions();
  /** The retransmission, delayed-ACK, keepalive and linger deadlines (tcb_timers.ts). */
  readonly timers: TcbTimers = new TcbTimers();
  /** cwnd, ssthresh: the window the algorithm sets (cong_state.ts). */
  readonly cong: CongState = new CongState(this.snd, this.opts);
  /** Duplicate ACKs, fast recovery, reordering (recovery_state.ts). */
  readonly recovery: RecoveryState = new RecoveryState();
  /** The window before a recovery and what tells whether it was spurious (undo_state.ts). */
  readonly undo: UndoState = new UndoState();
  /** Delayed-ACK count, an ACK owed now, the DSACK to report (ack_policy.ts). */
  readonly ackPolicy: AckPolicy = new AckPolicy();

  // --- buffers ---
  /** Send buffer, null until allocated (or after TIME_WAIT freed it). */
  sndBuf: SendBuffer | null = null;
  /** Receive buffer, null until allocated. */
  rcvBuf: RecvBuffer | null = null;

  // --- RTT (RFC 6298) ---
  /** The estimator. */
  readonly rtt: RttEstimator;
  /** Sequence number being timed without timestamps (Karn), or -1. */
  rttSeq = -1;
  /** Send time of `rttSeq`. */
  rttStart = 0;

  // --- congestion control and loss detection (RFC 5681, 6675, 8985, 6937) ---
  /** The algorithm. */
  readonly cc: CongestionControl;
  /** The SACK scoreboard. */
  readonly sacks: SackScoreboard;
  /** RACK-TLP loss detection and the transmission record it reads (RFC 8985; rack.ts). */
  readonly rack: Rack = new Rack();
  /** The window during a RACK connection's fast recovery (RFC 6937; prr.ts). */
  readonly prr: Prr = new Prr();

  // --- links: the timer wheel (TimerNode), the layer's flush list ---
  /** Wheel: expiry. */
  timerAt = 0;
  /** Wheel: slot or -1. */
  timerSlot = -1;
  /** Wheel: previous. */
  timerPrev: TimerNode | null = null;
  /** Wheel: next. */
  timerNext: TimerNode | null = null;
  /** Waiting in the layer's flush list. */
  dirty = false;
  /** Next in the layer's flush list. */
  dirtyNext: Tcb | null = null;

  // --- user settings and state ---
  /** Counted as an orphan (closed by the application, still ending with the peer). */
  orphan = false;
  /**
   * The last soft error an ICMP message reported (RFC 1122 4.2.3.9): what the user is told if
   * the connection then times out, instead of a bare timeout (Linux's sk_err_soft).
   */
  softError: Error | null = null;
  /** Nagle off (RFC 9293 3.7.4 lets the application disable it). */
  noDelay = false;
  /**
   * Set while the persist timer sends into a window too small for sender SWS avoidance (RFC 1122
   * 4.2.3.4's override timeout).
   */
  swsOverride = false;
  /** Keepalive on (RFC 1122 4.2.3.6: off by default). */
  keepAlive = false;
  /** close() was called: no more reads; data arriving now is answered with RST. */
  userClosed = false;
  /** Why the connection failed, or null. */
  error: Error | null = null;
  /** Retransmitted segments, in all (netstat -e "retrans"). */
  retransmits = 0;
  /** Challenge ACKs sent in the current one-second window (RFC 5961 7). */
  challengeAcks = 0;
  /** Start of the challenge-ACK window. */
  challengeWindowStart = 0;

  /** A closed control block for the given 4-tuple. */
  constructor(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    hash: number,
    rtt: RttEstimator,
    cc: CongestionControl,
    sacks: SackScoreboard,
    local6: Uint8Array | null = null,
    remote6: Uint8Array | null = null,
  ) {
    this.local6 = local6;
    this.remote6 = remote6;
    this.localAddr = localAddr;
    this.localPort = localPort;
    this.remoteAddr = remoteAddr;
    this.remotePort = remotePort;
    this.hash = hash;
    this.rtt = rtt;
    this.cc = cc;
    this.sacks = sacks;
  }

  /** Bytes of IP header before each segment: 20 (IPv4, no options) or 40 (IPv6). */
  get ipHeaderLen(): number {
    return this.remote6 === null ? 20 : 40;
  }

  /** Bytes sent and not acknowledged (SND.MAX - SND.UNA). */
  get outstanding(): number {
    return (this.snd.max - this.snd.una) >>> 0;
  }

  /** Sequence number just past the buffered data (where the FIN goes). */
  get sndEnd(): number {
    return (this.snd.base + (this.sndBuf === null ? 0 : this.sndBuf.len)) >>> 0;
  }
}
