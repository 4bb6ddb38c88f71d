/**
 * `TcpSocketInfo`: one row of `lb.ts netstat` (like `netstat -nat`, with `ss -ti` details), made
 * from a listener or a control block.
 *
 * @module
 */

import { formatIpv6 } from "../wire/address6.ts";
import { formatIpv4 } from "../wire/address.ts";
import { Bbr } from "./congestion/bbr.ts";
import { INITIAL_SSTHRESH } from "./congestion/cc.ts";
import type { ListenQueue } from "./listen_queue.ts";
import { LISTEN, netstatStateName } from "./state.ts";
import type { Tcb } from "./tcb.ts";

/** One TCP socket as `netstat -nat` / `ss -ti` show it. */
export interface TcpSocketInfo {
  /** Local address and port, "10.0.0.2:80" ("0.0.0.0:80" for a wildcard listener). */
  local: string;
  /** Remote address and port; "0.0.0.0:*" for listeners. */
  remote: string;
  /** netstat's state name: LISTEN, SYN_SENT, SYN_RECV, ESTABLISHED, ... TIME_WAIT, CLOSE. */
  state: string;
  /** Bytes received and not read by the application (listeners: connections awaiting accept). */
  recvQ: number;
  /** Bytes not yet acknowledged by the peer (listeners: the accept backlog). */
  sendQ: number;
  /** Congestion window, segments. */
  cwnd: number;
  /** Slow-start threshold, segments; -1 while still "infinite" (ss leaves it out then). */
  ssthresh: number;
  /** Smoothed RTT, ms. */
  srttMs: number;
  /** RTT variation, ms. */
  rttvarMs: number;
  /** Current retransmission timeout (backoff included), ms. */
  rtoMs: number;
  /** Segments retransmitted so far. */
  retransmits: number;
  /** Send MSS, bytes. */
  mss: number;
  /** "snd,rcv" window scale shifts as ss prints them ("7,7"), or "" without scaling. */
  wscale: string;
  /** Congestion control ("cubic", "newreno", "bbr"); "" for a listener. */
  congestion: string;
  /** Segments retransmitted and still in flight (RACK's record), as ss's `retrans:N/`. */
  retransOut: number;
  /** The reordering the connection has seen, segments (3 until more was seen), as ss prints. */
  reordering: number;
  /** BBR's model (ss's `bbr:(bw:...,mrtt:...)`), for a BBR connection with an estimate. */
  bbr?: { bwMbps: number; mrttMs: number; pacingGain: number; cwndGain: number };
  /**
   * 6 for an IPv6 socket (dual-stack listeners included), absent for IPv4; its addresses are
   * written as net-tools' netstat writes them: "2001:db8::2:80", ":::80", ":::*".
   */
  family?: 6;
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;

/** The row for a listener. */
export function listenerInfo(l: ListenQueue): TcpSocketInfo {
  const v6 = l.dual || l.local6 !== null;
  return {
    ...(v6 ? { family: 6 as const } : {}),
    local: v6
      ? `${l.local6 === null ? "::" : formatIpv6(l.local6)}:${l.port}`
      : `${formatIpv4(l.localAddress)}:${l.port}`,
    remote: v6 ? ":::*" : "0.0.0.0:*",
    state: netstatStateName(LISTEN),
    recvQ: l.queued,
    sendQ: l.backlog,
    cwnd: 0,
    ssthresh: -1,
    srttMs: 0,
    rttvarMs: 0,
    rtoMs: 0,
    retransmits: 0,
    mss: 0,
    wscale: "",
    congestion: "",
    retransOut: 0,
    reordering: 0,
  };
}

/** The row for a connection. */
export function tcbInfo(t: Tcb): TcpSocketInfo {
  const mss = t.opts.mss > 0 ? t.opts.mss : 1;
  return {
    ...(t.remote6 === null ? {} : { family: 6 as const }),
    local: `${t.local6 === null ? formatIpv4(t.localAddr) : formatIpv6(t.local6)}:${t.localPort}`,
    remote: `${
      t.remote6 === null ? formatIpv4(t.remoteAddr) : formatIpv6(t.remote6)
    }:${t.remotePort}`,
    state: netstatStateName(t.state),
    recvQ: t.rcvBuf === null ? 0 : t.rcvBuf.len,
    sendQ: t.sndBuf === null ? 0 : t.sndBuf.len,
    cwnd: Math.floor(t.cong.cwnd / mss),
    ssthresh: t.cong.ssthresh >= INITIAL_SSTHRESH ? -1 : Math.floor(t.cong.ssthresh / mss),
    srttMs: round3(t.rtt.srtt),
    rttvarMs: round3(t.rtt.rttvar),
    rtoMs: round3(t.rtt.rto),
    retransmits: t.retransmits,
    mss: t.opts.mss,
    wscale: t.opts.wsOk ? `${t.snd.wscale},${t.rcv.wscale}` : "",
    congestion: t.cc.name,
    retransOut: Math.ceil(t.rack.segs.retransBytes / mss),
    reordering: t.recovery.reordering,
    ...bbrInfo(t),
  };
}

/** BBR's bandwidth (octets/ms to Mbit/s) and min RTT, when the connection runs BBR. */
function bbrInfo(t: Tcb): Pick<TcpSocketInfo, "bbr"> {
  const cc = t.cc;
  if (!(cc instanceof Bbr) || cc.minRtt === Infinity) return {};
  return {
    bbr: {
      bwMbps: round3((cc.bw.value * 8) / 1000),
      mrttMs: round3(cc.minRtt),
      pacingGain: round3(cc.pacingGain),
      cwndGain: round3(cc.cwndGain),
    },
  };
}
