/**
 * The TCP layer of one stack: the protocol handler for IP protocol 6, the connection table and
 * listeners, the one timer wheel, the end-of-burst flush, and the API entry points behind
 * `stack.listen` / `stack.connect` / `stack.tcpSnapshot`.
 *
 * Receiving: a segment is validated (header, checksum, unicast destination, options), matched to
 * a connection by 4-tuple, else to a listener, else answered with a RST (RFC 9293 3.10.7.1).
 * Sending from the receive path is deferred: connections that owe an ACK or may send data are
 * put on a flush list, run once when the current burst of frames is done (a microtask after
 * the device's drain loop), so ACKs and data leave batched as RFC 5681 4.2 permits.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { type FrameOffload, newFrameOffload, VNET_HDR_LEN } from "../wire/virtio_net.ts";
import type { Counters } from "../net/counters.ts";
import { formatIpv4, isMulticastIpv4 } from "../wire/address.ts";
import { readU16, readU32 } from "../wire/bytes.ts";
import { type Ipv4Header, newIpv4Header } from "../wire/ipv4.ts";
import { seqGt, seqLt } from "../wire/seq.ts";
import { newTcpHeader, type TcpHeader, TcpView } from "../wire/tcp.ts";
import { parseTcpOptions, TcpOptions } from "../wire/tcp_options.ts";
import {
  type ConnectOptions,
  DEFAULT_LISTEN_HOSTNAME,
  EPHEMERAL_HIGH,
  EPHEMERAL_LOW,
  type ListenOptions,
  openParams,
} from "./api_options.ts";
import {
  resolveTcpConfig,
  type TcpConfig,
  type TcpStackOptions,
  windowScaleFor,
} from "./config.ts";
import { Bbr } from "./congestion/bbr.ts";
import { Cubic } from "./congestion/cubic.ts";
import { NewReno } from "./congestion/newreno.ts";
import { ConnTable } from "./conn_table.ts";
import type { TcpConn } from "./conn.ts";
import type { TcpContext } from "./context.ts";
import {
  addrInUse,
  addrNotAvailable,
  badResource,
  connectionAborted,
  connectionRefused,
  hostUnreachable,
  networkUnreachable,
} from "./errors.ts";
import {
  ICMP_CODE_FRAG_NEEDED,
  ICMP_CODE_PORT_UNREACHABLE,
  ICMP_CODE_PROTO_UNREACHABLE,
  ICMP_DEST_UNREACHABLE,
} from "../wire/icmp.ts";
import { ICMP_SOURCE_QUENCH, type IcmpQuote } from "../wire/icmp_quote.ts";
import type { PmtuCache } from "../net/pmtu.ts";
import type { Ipv6Host } from "../net/ipv6_host.ts";
import { equalIpv6, formatIpv6, isIpv6Multicast } from "../wire/address6.ts";
import { copyBytes } from "../wire/bytes.ts";
import { IPV6_MIN_MTU, IPV6_NH_TCP } from "../wire/ipv6.ts";
import { ICMPV6_DEST_UNREACHABLE, ICMPV6_PACKET_TOO_BIG } from "../wire/icmpv6.ts";
import { hash4, type HashKey, randomHashKey } from "./hash.ts";
import { TcpMemory } from "./memory.ts";
import { segmentArrives } from "./input.ts";
import { abort, peerName, setState } from "./transitions.ts";
import { IsnGenerator } from "./isn.ts";
import { type ListenerLayer, ListenQueue } from "./listen_queue.ts";
import { newTcpListener, type TcpListener } from "./listener.ts";
import type { LoopRef } from "../net/loop_ref.ts";
import { output } from "./output.ts";
import { listenInput } from "./passive_open.ts";
import { activeOpen } from "./active_open.ts";
import { sendResetFor, TS_OPTION_LEN } from "./transmit.ts";
import { PortAllocator } from "./ports.ts";
import { RttEstimator } from "./rto.ts";
import { SackScoreboard } from "./sack_scoreboard.ts";
import { Segment } from "./segment.ts";
import { listenerInfo, tcbInfo, type TcpSocketInfo } from "./snapshot.ts";
import {
  CLOSE_WAIT,
  CLOSED,
  ESTABLISHED,
  FIN_WAIT_1,
  FIN_WAIT_2,
  LAST_ACK,
  SYN_RECEIVED,
  SYN_SENT,
  TIME_WAIT,
} from "./state.ts";
import { SynCookies } from "./syn_cookies.ts";
import { RTX_OFF, Tcb } from "./tcb.ts";
import { onTimer, setKeepalive } from "./timers.ts";
import { TimerWheel } from "./timer_wheel.ts";

/** What the TCP layer needs from the stack it runs in. */
export interface TcpHost {
  /** Time source. */
  readonly clock: Clock;
  /** Counters. */
  readonly counters: Counters;
  /** TTL of our datagrams. */
  readonly ttl: number;
  /** Link MTU (the route MTU: there is one interface). */
  readonly mtu: number;
  /** The interface address (source of active opens). */
  readonly address: number;
  /** Routes, for the reachability check of connect(). */
  readonly routes: { nextHop(dst: number): number | null };
  /**
   * True while the segment being handled came with a partial or already verified checksum (a
   * TAP with offloads: NEEDS_CSUM or DATA_VALID); absent means false.
   */
  readonly rxChecksumTrusted?: boolean;
  /** True for the host's own addresses. */
  hasAddress(addr: number): boolean;
  /** True for broadcast addresses. */
  isBroadcast(addr: number): boolean;
  /**
   * The link device's offloads (a `Device`; see stack/link/device.ts): with `txOffloads`, data
   * leaves in super-frames (stack/tcp/tso.ts) with TCP's own metadata passed to `sendIpv4`, and
   * a received super-frame's gso_size (`rxOffload`) tells the peer's segment size. Absent or
   * without offloads: plain frames.
   */
  readonly device?: { readonly rxOffload?: FrameOffload; readonly txOffloads?: boolean };
  /** The stack's path MTU cache (stack/net/pmtu.ts): learned from ICMP, read by new connections. */
  readonly pmtu?: PmtuCache;
  /**
   * Sends a complete IPv4 packet; `offload`, when not null, describes it (a partial checksum, a
   * super-frame) and is only read.
   */
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number, offload?: FrameOffload | null): boolean;
  /** A fresh IPv4 identification. */
  nextIpId(): number;
  /** IPv6 (stack/net/ipv6_host.ts), when the host has IPv6 addresses. */
  readonly ipv6?: Ipv6Host | null;
}

/** Ethernet header + IPv4 header + TCP header with the largest options. */
const HEADERS = 14 + 20 + 60;
/**
 * Headroom before an IPv4 frame in transmit buffers: an IPv6 header is 20 bytes longer, so an
 * IPv6 frame starts this much earlier and the TCP header stays where it is (the send path copies
 * payload to one place whatever the family).
 */
const V6_HEADROOM = 20;

/** TCP for one stack. */
export class TcpLayer implements TcpContext, ListenerLayer {
  /** Tunables. */
  readonly config: TcpConfig;
  /** Time source. */
  readonly clock: Clock;
  /** Counters. */
  readonly counters: Counters;
  /** TTL. */
  readonly ttl: number;
  /** Our window scale. */
  readonly windowScale: number;
  /** Our MSS (route MTU - 40). */
  readonly advMss: number;
  /** ISNs and timestamp offsets. */
  readonly isn: IsnGenerator = new IsnGenerator();
  /** Transmit-area size of each send buffer. */
  readonly txArea: number;
  /** Where frames start in transmit buffers (room for a virtio-net header, or 0). */
  readonly txFrameOff: number;
  /** TCP's own transmit offload metadata with segmentation offload on, else null. */
  readonly txMeta: FrameOffload | null;
  /** Transmit area for a super-frame. */
  readonly tsoTxArea: number;
  /** Scratch frame for header-only segments. */
  readonly ctlBuf: Uint8Array;
  /** Scratch options. */
  readonly txOpts: TcpOptions = new TcpOptions();
  /** Scratch TCP header. */
  readonly txHeader: TcpHeader = newTcpHeader();
  /** Scratch IPv4 header. */
  readonly ipHeader: Ipv4Header = newIpv4Header();
  /** Scratch view. */
  readonly txView: TcpView = new TcpView();
  /**
   * True while the stack's device loop runs with `flush` as its idle callback: output queued
   * while handling a received frame then waits for the end of the burst without a microtask.
   */
  flushOnIdle = false;

  readonly #host: TcpHost;
  /** The device's receive offload metadata (null without offloads), read per segment. */
  readonly #rxo: FrameOffload | null;
  readonly #table = new ConnTable();
  /** The host's IPv6, or null: TCP over IPv6 needs it. */
  readonly #v6: Ipv6Host | null;
  /** The key of the IPv6 address keys (see `Tcb.localAddr`), secret per stack. */
  readonly #key6: HashKey = randomHashKey();
  /** Scratch addresses of an ICMPv6 error's quoted segment. */
  readonly #quoted6 = [new Uint8Array(16), new Uint8Array(16)];
  readonly #listeners = new Map<number, ListenQueue[]>();
  readonly #wheel: TimerWheel<Tcb>;
  readonly #ports: PortAllocator;
  /** SYN cookies of this stack's listeners. */
  readonly cookies: SynCookies = new SynCookies();
  readonly #seg = new Segment();
  readonly #view = new TcpView();
  readonly #fire: (t: Tcb) => void;
  readonly #flushBound: () => void;
  readonly #tickBound: () => void;
  #interval: ReturnType<typeof setInterval> | null = null;
  #dirtyHead: Tcb | null = null;
  #dirtyTail: Tcb | null = null;
  #flushScheduled = false;
  #inInput = false;
  #closed = false;
  /** An internal error was logged (once per layer; every one is counted). */
  #internalLogged = false;
  /** Connections in TIME_WAIT now (capped by config.maxTimeWait). */
  #timeWait = 0;
  /** Orphans now: closed by the application, still ending with the peer (config.maxOrphans). */
  #orphans = 0;
  /** The budget of every connection's buffers. */
  readonly memory: TcpMemory;

  /** TCP over `host` with `options` (see {@link TcpStackOptions}). */
  constructor(host: TcpHost, options?: TcpStackOptions) {
    this.#host = host;
    this.config = resolveTcpConfig(options);
    this.clock = host.clock;
    this.counters = host.counters;
    this.ttl = host.ttl;
    this.windowScale = this.config.windowScaling ? windowScaleFor(this.config.receiveBuffer) : 0;
    this.advMss = host.mtu - 40;
    this.#v6 = host.ipv6 ?? null;
    const offloads = host.device?.txOffloads === true;
    this.#rxo = host.device?.rxOffload ?? null;
    // With a vnet header the frame starts 10 bytes in, so the TAP writes the header in place;
    // and an IPv6 frame starts V6_HEADROOM earlier than an IPv4 one.
    this.txFrameOff = (offloads ? VNET_HDR_LEN : 0) + V6_HEADROOM;
    this.txMeta = offloads && this.config.tso ? newFrameOffload() : null;
    this.txArea = (this.txFrameOff + HEADERS + host.mtu + 7) & ~7;
    this.tsoTxArea = (this.txFrameOff + 14 + 0xffff + 7) & ~7;
    this.ctlBuf = new Uint8Array(this.txArea);
    this.#wheel = new TimerWheel<Tcb>(host.clock.now(), this.config.timerTickMs);
    const [lo, hi] = this.config.ephemeralPorts;
    this.#ports = new PortAllocator(lo, hi);
    this.memory = new TcpMemory(this.config.memoryLimit);
    this.#fire = (t) => {
      try {
        onTimer(this, t, this.clock.now());
      } catch (e) {
        this.#contain(t, e);
      }
    };
    this.#flushBound = () => this.flush();
    this.#tickBound = () => this.runTimers();
  }

  // --- TcpContext ---

  /** A fresh IPv4 identification. */
  nextIpId(): number {
    return this.#host.nextIpId();
  }

  /** TIME_WAIT admission under the cap (TcpContext). */
  admitTimeWait(t: Tcb): boolean {
    this.#unorphan(t); // in TIME_WAIT it is no orphan any more (Linux counts them apart)
    if (this.#timeWait >= this.config.maxTimeWait) return false;
    this.#timeWait++;
    return true;
  }

  /** `t` stops counting as an orphan (if it did). */
  #unorphan(t: Tcb): void {
    if (!t.orphan) return;
    t.orphan = false;
    this.#orphans--;
  }

  /** TIME_WAIT connections, orphans and buffer bytes now (`lb.ts netstat -e`, `stats`). */
  usage(): TcpUsage {
    const m = this.memory;
    return {
      connections: this.#table.size,
      timeWait: this.#timeWait,
      orphans: this.#orphans,
      memoryBytes: m.used,
      memoryPeakBytes: m.peak,
      memoryLimitBytes: m.limit,
      memoryPressure: m.pressure,
      memoryGrowthDenied: m.growthDenied,
    };
  }

  /** The path MTU learned toward `t`'s peer (IPv4's cache, or IPv6's), or 0. */
  pathMtu(t: Tcb): number {
    if (t.remote6 !== null) return this.#v6?.pmtu.get(formatIpv6(t.remote6)) ?? 0;
    const p = this.#host.pmtu;
    return p === undefined ? 0 : p.get(t.remoteAddr);
  }

  /** Remembers `mtu` toward `t`'s peer (lowered only); returns what the cache holds now. */
  learnPathMtu(t: Tcb, mtu: number): number {
    if (t.remote6 !== null) {
      return this.#v6?.pmtu.learn(formatIpv6(t.remote6), mtu) ?? mtu;
    }
    const p = this.#host.pmtu;
    return p === undefined ? mtu : p.learn(t.remoteAddr, mtu);
  }

  /**
   * The address key of the IPv6 address `buf[off ..+16)` (see `Tcb.localAddr`): a keyed
   * HalfSipHash of its four words, never 0.
   */
  addrKey6(buf: Uint8Array, off: number): number {
    const h = hash4(
      this.#key6,
      readU32(buf, off),
      readU32(buf, off + 4),
      readU32(buf, off + 8),
      readU32(buf, off + 12),
    );
    return h === 0 ? 1 : h;
  }

  /** Sends an IPv6 packet (20 more bytes of header than IPv4; see V6_HEADROOM). */
  sendIpv6(buf: Uint8Array, ipOff: number, len: number, offload: FrameOffload | null): boolean {
    const v6 = this.#v6;
    return v6 !== null && v6.sendPacket(buf, ipOff, len, offload);
  }

  /** Sends an IPv4 packet through the stack, with its offload metadata (null: plain). */
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number, offload: FrameOffload | null): boolean {
    return this.#host.sendIpv4(buf, ipOff, ipLen, offload);
  }

  /** Makes `t`'s timer fire no later than `at`. */
  armTimer(t: Tcb, at: number): void {
    if (this.#closed || t.state === CLOSED) return;
    if (t.timerSlot < 0 || at < t.timerAt) this.#wheel.schedule(t, at);
    if (this.#interval === null) this.#startInterval();
  }

  /** Queues `t` for the end-of-burst flush. */
  markDirty(t: Tcb): void {
    if (t.dirty) return;
    t.dirty = true;
    t.dirtyNext = null;
    if (this.#dirtyTail === null) this.#dirtyHead = t;
    else this.#dirtyTail.dirtyNext = t;
    this.#dirtyTail = t;
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      // Inside the device's receive loop the stack flushes at the end of the burst (onIdle);
      // anywhere else (application code, tests feeding frames) a microtask does it.
      if (!(this.#inInput && this.flushOnIdle)) queueMicrotask(this.#flushBound);
    }
  }

  /** `t` reached CLOSED: out of every table; its user is told. */
  release(t: Tcb): void {
    if (t.state === CLOSED && !t.inTable) return;
    const prev = t.state;
    t.state = CLOSED;
    t.timers.rtxAt = 0;
    t.timers.rtxMode = RTX_OFF;
    t.timers.delackAt = 0;
    t.timers.keepAt = 0;
    t.timers.lingerAt = 0;
    this.#wheel.cancel(t);
    this.#table.remove(t);
    const l = t.listener;
    if (l !== null) {
      t.listener = null;
      l.synRecvDone(t);
    }
    if (prev === TIME_WAIT) {
      this.#timeWait--;
      this.counters.count("tcp.time_wait_done");
    }
    this.#unorphan(t);
    t.sndBuf?.release();
    t.rcvBuf?.release();
    const user = t.user;
    if (user !== null) user.onClosed();
  }

  // --- ICMP ---

  /**
   * An ICMP error quoting one of our segments (the stack parsed it: stack/wire/icmp_quote.ts).
   * Only an error that quotes a sequence number in flight counts (RFC 5927 4.1, as Linux's
   * tcp_v4_err); others are counted and ignored.
   * - Fragmentation needed (RFC 1191): the path MTU toward the peer is learned (the stack's
   *   cache, shared with new connections) and the connection's MSS lowered; what was in flight
   *   is sent again in segments that fit, without a congestion response (a smaller path is not
   *   congestion; Linux's tcp_simple_retransmit).
   * - Protocol or port unreachable while connecting: a hard error, the connect fails at once
   *   (ConnectionRefused). Other unreachable codes and time exceeded are soft errors (RFC 1122
   *   4.2.3.9): remembered, and reported if the connection then times out.
   * - Source quench: ignored (RFC 6633).
   */
  icmpError(buf: Uint8Array, q: IcmpQuote): void {
    const counters = this.counters;
    if (q.innerL4Len < 8) {
      counters.count("tcp.icmp_short_quote");
      return;
    }
    const t = this.#table.lookup(q.src, q.sport, q.dst, q.dport);
    if (t === null || t.state === TIME_WAIT) {
      counters.count("tcp.icmp_no_connection");
      return;
    }
    const seq = readU32(buf, q.innerL4Off + 4);
    if (seqLt(seq, t.snd.una) || seqGt(seq, t.snd.max)) {
      counters.count("tcp.icmp_out_of_window");
      return;
    }
    if (q.type === ICMP_SOURCE_QUENCH) {
      counters.count("tcp.icmp_source_quench_ignored");
      return;
    }
    try {
      if (q.type === ICMP_DEST_UNREACHABLE && q.code === ICMP_CODE_FRAG_NEEDED) {
        this.#pathMtuReduced(t, buf, q);
        return;
      }
      const hard = q.type === ICMP_DEST_UNREACHABLE &&
        (q.code === ICMP_CODE_PROTO_UNREACHABLE || q.code === ICMP_CODE_PORT_UNREACHABLE);
      if (hard && (t.state === SYN_SENT || t.state === SYN_RECEIVED)) {
        counters.count("tcp.icmp_hard_errors");
        abort(this, t, connectionRefused(peerName(t)), false);
        return;
      }
      counters.count("tcp.icmp_soft_errors");
      t.softError = hard ? connectionRefused(peerName(t)) : q.type === ICMP_DEST_UNREACHABLE &&
          (q.code === 0 || q.code === 6 || q.code === 11)
        ? networkUnreachable(peerName(t))
        : hostUnreachable(peerName(t));
    } catch (e) {
      this.#contain(t, e);
    }
  }

  /** Frag-needed for `t`: learn the path MTU, shrink the MSS, resend what no longer fits. */
  #pathMtuReduced(t: Tcb, buf: Uint8Array, q: IcmpQuote): void {
    let mtu = q.rest & 0xffff;
    // RFC 1191 5: a router of before RFC 1191 sends 0; take the plateau below the datagram.
    if (mtu === 0) mtu = plateauBelow(readU16(buf, q.innerOff + 2));
    this.#lowerMss(t, mtu);
  }

  /**
   * The path toward `t`'s peer carries `mtu` bytes (frag-needed, Packet Too Big): learn it and,
   * when segments no longer fit, shrink the MSS and send what is in flight again.
   */
  #lowerMss(t: Tcb, mtu: number): void {
    // IP and TCP headers and the timestamp option every segment carries.
    const overhead = t.ipHeaderLen + 20 + (t.opts.tsOk ? TS_OPTION_LEN : 0);
    if (mtu >= t.opts.mss + overhead) {
      this.counters.count("tcp.icmp_frag_needed_ignored");
      return;
    }
    const learned = this.learnPathMtu(t, mtu);
    const mss = learned - overhead;
    if (mss >= t.opts.mss) return;
    this.counters.count("tcp.pmtu_reduced");
    t.opts.mss = mss;
    if (t.outstanding > 0 && t.state !== SYN_SENT && t.state !== SYN_RECEIVED) {
      // Everything in flight was too big: send it again, from SND.UNA, in segments that fit.
      t.snd.nxt = t.snd.una;
      t.recovery.highRxt = t.snd.una;
      t.rttSeq = -1; // Karn: no sample from what is sent again
      this.markDirty(t);
    }
  }

  /**
   * An ICMPv6 error quoting one of our IPv6 segments (RFC 4443; the IPv6 host checked that the
   * quote is from one of our addresses): `buf[q ..end)` is the quoted packet. As for ICMP, only
   * a quote with a sequence number in flight counts (RFC 5927 4.1). Packet Too Big lowers the
   * MSS (RFC 8201; the host already lowered the path MTU, at least 1280); Destination
   * Unreachable "administratively prohibited" (1) and "port unreachable" (4) end a connect at
   * once, as Linux's icmpv6_err_convert makes them hard; other errors are soft (RFC 1122
   * 4.2.3.9).
   */
  icmpError6(type: number, code: number, param: number, buf: Uint8Array, q: number, end: number) {
    const counters = this.counters;
    // Our segments carry no extension headers: TCP right after the quoted IPv6 header.
    if (buf[q + 6] !== IPV6_NH_TCP || end - (q + 40) < 8) {
      counters.count("tcp.icmp_short_quote");
      return;
    }
    const tcp = q + 40;
    const t = this.lookupSent6(buf, q);
    if (t === null || t.state === TIME_WAIT) {
      counters.count("tcp.icmp_no_connection");
      return;
    }
    const seq = readU32(buf, tcp + 4);
    if (seqLt(seq, t.snd.una) || seqGt(seq, t.snd.max)) {
      counters.count("tcp.icmp_out_of_window");
      return;
    }
    try {
      if (type === ICMPV6_PACKET_TOO_BIG) {
        this.#lowerMss(t, param < IPV6_MIN_MTU ? IPV6_MIN_MTU : param);
        return;
      }
      const hard = type === ICMPV6_DEST_UNREACHABLE && (code === 1 || code === 4);
      if (hard && (t.state === SYN_SENT || t.state === SYN_RECEIVED)) {
        counters.count("tcp.icmp_hard_errors");
        abort(this, t, connectionRefused(peerName(t)), false);
        return;
      }
      counters.count("tcp.icmp_soft_errors");
      t.softError = hard
        ? connectionRefused(peerName(t))
        : type === ICMPV6_DEST_UNREACHABLE && code === 0
        ? networkUnreachable(peerName(t))
        : hostUnreachable(peerName(t));
    } catch (e) {
      this.#contain(t, e);
    }
  }

  // --- receive path ---

  /** The protocol handler for IP protocol 6: `buf[ipOff .. ipOff+ipLen)` is the packet. */
  input(buf: Uint8Array, ipOff: number, ipLen: number): void {
    this.#inInput = true;
    try {
      this.#input(buf, ipOff, ipLen);
    } finally {
      this.#inInput = false;
    }
  }

  #input(buf: Uint8Array, ipOff: number, ipLen: number): void {
    const counters = this.counters;
    const ihl = (buf[ipOff] & 0x0f) << 2;
    const src = readU32(buf, ipOff + 12);
    const dst = readU32(buf, ipOff + 16);
    const v = this.#view.wrap(buf, ipOff + ihl, ipLen - ihl);
    const reason = v.check();
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    // With NEEDS_CSUM the field holds only the pseudo-header sum, which the sender's kernel
    // completes; with DATA_VALID the kernel has verified it: neither is checked again.
    if (this.#host.rxChecksumTrusted !== true && !v.verifyChecksum(src, dst)) {
      counters.count("drop.tcp_bad_checksum");
      return;
    }
    // RFC 1122 4.2.3.10: a SYN (or any segment) to a broadcast or multicast address is ignored.
    if (this.#host.isBroadcast(dst) || isMulticastIpv4(dst)) {
      counters.count("drop.tcp_not_unicast");
      return;
    }
    const seg = this.#seg;
    seg.v6 = false;
    seg.src = src;
    seg.dst = dst;
    this.#arrive(buf, v);
  }

  /**
   * The IPv6 host's handler for next header 6: `buf[ipOff .. end)` is the packet, the TCP header
   * at `upperOff` (RFC 8200 8.1: the checksum covers the IPv6 pseudo-header).
   */
  input6(buf: Uint8Array, ipOff: number, end: number, upperOff: number): void {
    this.#inInput = true;
    try {
      const counters = this.counters;
      const v = this.#view.wrap(buf, upperOff, end - upperOff);
      const reason = v.check();
      if (reason !== null) {
        counters.drop(reason);
        return;
      }
      if (this.#host.rxChecksumTrusted !== true && !v.verifyChecksum6(buf, ipOff + 8, ipOff + 24)) {
        counters.count("drop.tcp_bad_checksum");
        return;
      }
      // As over IPv4 (RFC 1122 4.2.3.10): nothing to a multicast group.
      if (isIpv6Multicast(buf, ipOff + 24)) {
        counters.count("drop.tcp_not_unicast");
        return;
      }
      const seg = this.#seg;
      // The keys of the previous segment's addresses stay in `seg` (a bulk transfer's segments
      // share them): two keyed hashes only when the addresses changed.
      const same = seg.v6 && equalIpv6(buf, ipOff + 8, seg.src6) &&
        equalIpv6(buf, ipOff + 24, seg.dst6);
      seg.v6 = true;
      if (!same) {
        copyBytes(buf, ipOff + 8, seg.src6, 0, 16);
        copyBytes(buf, ipOff + 24, seg.dst6, 0, 16);
        seg.src = this.addrKey6(buf, ipOff + 8);
        seg.dst = this.addrKey6(buf, ipOff + 24);
      }
      this.#arrive(buf, v);
    } finally {
      this.#inInput = false;
    }
  }

  /** A checked segment (`this.#seg` has its addresses): to its connection, listener, or a RST. */
  #arrive(buf: Uint8Array, v: TcpView): void {
    const counters = this.counters;
    const seg = this.#seg;
    const src = seg.src;
    const dst = seg.dst;
    const optReason = parseTcpOptions(buf, v.optionsOffset, v.optionsLen, seg.opts);
    if (optReason !== null) {
      counters.drop(optReason);
      return;
    }
    seg.srcPort = v.srcPort;
    seg.dstPort = v.dstPort;
    seg.seq = v.seq;
    seg.ack = v.ack;
    seg.flags = v.flags;
    seg.window = v.window;
    seg.buf = buf;
    seg.payloadOff = v.payloadOffset;
    const payloadLen = v.payloadLen;
    seg.payloadLen = payloadLen;
    // A super-frame (the kernel's GSO, stack/link/offload.ts): the segments it stands for are
    // gso_size long, as Linux's tcp_measure_rcv_mss reads from skb_shinfo(skb)->gso_size.
    const rxo = this.#rxo;
    if (rxo !== null && rxo.gsoType !== 0 && rxo.gsoSize > 0 && payloadLen > rxo.gsoSize) {
      seg.gsoSize = rxo.gsoSize;
      counters.count("tcp.rx_segments", Math.ceil(payloadLen / rxo.gsoSize));
    } else {
      seg.gsoSize = 0;
      counters.count("tcp.rx_segments");
    }
    const t = seg.v6
      ? this.#table.lookup(dst, seg.dstPort, src, seg.srcPort, seg.dst6, seg.src6)
      : this.#table.lookup(dst, seg.dstPort, src, seg.srcPort);
    let minIss = -1;
    const l = t === null || t.state === TIME_WAIT ? this.#findListener(seg) : null;
    if (t !== null) {
      if (
        l === null || t.state !== TIME_WAIT || !seg.syn || seg.hasAck || seg.rst ||
        !this.#reusable(t, seg)
      ) {
        try {
          segmentArrives(this, t, seg);
        } catch (e) {
          this.#contain(t, e);
        }
        return;
      }
      // RFC 9293 3.6.1 / RFC 6191: a new SYN may reopen a TIME_WAIT tuple (when something
      // listens); the new ISN must lie beyond everything the old connection used.
      minIss = (t.snd.max + 65536) >>> 0;
      this.counters.count("tcp.time_wait_reused");
      this.release(t);
    }
    if (l !== null) {
      listenInput(this, l, seg, minIss);
      return;
    }
    counters.count("tcp.rx_no_socket");
    sendResetFor(this, seg);
  }

  /**
   * Sends what connections queued during the burst owe (ACKs, data). Runs by itself after
   * each burst; public for tests that feed `input` directly.
   */
  flush(): void {
    this.#flushScheduled = false;
    let t = this.#dirtyHead;
    this.#dirtyHead = null;
    this.#dirtyTail = null;
    while (t !== null) {
      const next: Tcb | null = t.dirtyNext;
      t.dirty = false;
      t.dirtyNext = null;
      if (t.state !== CLOSED) {
        try {
          output(this, t);
        } catch (e) {
          this.#contain(t, e);
        }
      }
      t = next;
    }
  }

  /** Runs the timers due by now, then flushes. Called by the layer's own interval. */
  runTimers(): void {
    this.#wheel.advance(this.clock.now(), this.#fire);
    this.flush();
    if (this.#wheel.size === 0) this.#stopInterval();
  }

  /** Adds a connection to the table (passive opens). */
  insert(t: Tcb): void {
    this.#table.insert(t);
  }

  /** Number of connections in the table (TIME_WAIT included). */
  get connectionCount(): number {
    return this.#table.size;
  }

  // --- API ---

  /** `stack.listen`: a listener on `port` (on `hostname`, or on every address). */
  listen(options: ListenOptions): TcpListener {
    if (this.#closed) throw badResource("the stack is closed");
    const hostname = options.hostname ?? DEFAULT_LISTEN_HOSTNAME;
    let { addr, port, addr6 } = openParams(hostname, options.port ?? 0, "listen", true);
    // 127/8 is the loopback's (stack/net/loopback.ts): a listener there is reached from this host.
    if (addr !== 0 && (addr >>> 24) !== 127 && !this.#host.hasAddress(addr)) {
      throw addrNotAvailable(formatIpv4(addr));
    }
    // "::" listens on both families (Linux's IPV6_V6ONLY off); another IPv6 address must be ours.
    const dual = addr6 !== null && addr6.every((b) => b === 0);
    if (addr6 !== null && !dual && this.#v6?.owns(addr6) !== true) {
      throw addrNotAvailable(hostname);
    }
    const local6 = dual ? null : addr6;
    const name = addr6 === null ? formatIpv4(addr) : `[${formatIpv6(addr6)}]`;
    const list = this.#listeners.get(port) ?? [];
    for (const other of list) {
      if (listenersClash(other, addr, local6, dual)) throw addrInUse(`${name}:${port}`);
    }
    if (port === 0) {
      // Deno's port 0: an ephemeral port (RFC 6056's range) no listener has.
      port = this.#freeListenPort();
      if (port < 0) throw addrInUse(`${name}:0 (no free port)`);
    }
    const backlog = options.tcpBacklog ?? options.backlog ?? this.config.acceptBacklog;
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new RangeError(`backlog ${backlog} must be a positive integer`);
    }
    const l = new ListenQueue(
      this,
      { transport: "tcp", hostname: addr6 === null ? formatIpv4(addr) : formatIpv6(addr6), port },
      addr,
      backlog,
      this.config.synBacklog,
      local6,
      dual,
    );
    list.push(l);
    this.#listeners.set(port, list);
    return newTcpListener(l, this.loop);
  }

  /**
   * The stack's frame-loop reference (stack/net/loop_ref.ts), set by the stack: sockets take a
   * hold on it while they are referenced and wait.
   */
  loop: LoopRef | undefined;

  /** A random free port of the ephemeral range for `listen({ port: 0 })`, -1 if none. */
  #freeListenPort(): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(Math.random() * span);
    for (let i = 0; i < span; i++) {
      const p = EPHEMERAL_LOW + ((start + i) % span);
      if (!this.#listeners.has(p)) return p;
    }
    return -1;
  }

  /** `stack.connect`: an active open to `hostname:port`; resolves once ESTABLISHED. */
  connect(options: ConnectOptions): Promise<TcpConn> {
    if (this.#closed) return Promise.reject(badResource("the stack is closed"));
    return activeOpen(this, this.#host, options);
  }

  /**
   * The connection that sent the IPv6 TCP segment at `buf[ipOff ..)` (ours: no extension
   * headers; a quote in an ICMPv6 error, a packet that waited for a neighbor), or null.
   */
  lookupSent6(buf: Uint8Array, ipOff: number): Tcb | null {
    const [l6, r6] = this.#quoted6;
    copyBytes(buf, ipOff + 8, l6, 0, 16);
    copyBytes(buf, ipOff + 24, r6, 0, 16);
    const tcp = ipOff + 40;
    return this.#table.lookup(
      this.addrKey6(l6, 0),
      readU16(buf, tcp),
      this.addrKey6(r6, 0),
      readU16(buf, tcp + 2),
      l6,
      r6,
    );
  }

  /** The connection with this 4-tuple (IPv6: keys and addresses, see ConnTable), or null. */
  lookup(
    localAddr: number,
    localPort: number,
    remoteAddr: number,
    remotePort: number,
    local6: Uint8Array | null = null,
    remote6: Uint8Array | null = null,
  ): Tcb | null {
    return this.#table.lookup(localAddr, localPort, remoteAddr, remotePort, local6, remote6);
  }

  /**
   * An ephemeral port (RFC 6056) for a connection from `laddr` to `raddr:rport` whose tuple is
   * free and on which nothing listens; -1 when none is left.
   */
  pickPort(
    laddr: number,
    raddr: number,
    rport: number,
    local6: Uint8Array | null = null,
    remote6: Uint8Array | null = null,
  ): number {
    return this.#ports.pick(
      laddr,
      raddr,
      rport,
      (p) =>
        this.#table.lookup(laddr, p, raddr, rport, local6, remote6) === null &&
        !this.#listeners.has(p),
    );
  }

  /** One row per listener and connection (netstat). */
  snapshot(): TcpSocketInfo[] {
    const rows: TcpSocketInfo[] = [];
    for (const list of this.#listeners.values()) for (const l of list) rows.push(listenerInfo(l));
    for (const t of this.#table.all()) rows.push(tcbInfo(t));
    return rows;
  }

  /** Aborts every connection (RST), closes every listener, stops the timer. Idempotent. */
  close(): void {
    if (this.#closed) return;
    for (const list of [...this.#listeners.values()]) {
      for (const l of [...list]) if (!l.closed) l.close();
    }
    for (const t of this.#table.all()) {
      const synced = t.state !== SYN_SENT && t.state !== TIME_WAIT;
      abort(this, t, connectionAborted("the stack was closed"), synced);
    }
    this.#closed = true;
    this.#stopInterval();
  }

  // --- ConnLayer / ListenerLayer ---

  /** After the application read: a window update when the window opened by enough. */
  afterRead(t: Tcb): void {
    const rcv = t.rcvBuf;
    if (rcv === null || t.state === CLOSED || t.rcv.fin) return;
    const cur = (t.rcv.adv - t.rcv.nxt) | 0;
    const step = rcv.max / 2 < t.opts.advMss ? rcv.max / 2 : t.opts.advMss;
    // RFC 9293 3.8.6.2.2: announce once the window can grow by min(buffer / 2, MSS); only
    // when the advertised window has shrunk below half the buffer (otherwise data ACKs carry it).
    if (cur <= rcv.max / 2 && rcv.free - cur >= step) {
      t.ackPolicy.ackNow = true;
      this.markDirty(t);
    }
  }

  /**
   * After the application wrote: send now (Nagle and the windows decide); from inside the
   * receive path (a writer woken by an ACK), at the end of the burst instead.
   */
  afterWrite(t: Tcb): void {
    if (t.state !== ESTABLISHED && t.state !== CLOSE_WAIT) return;
    if (this.#inInput) this.markDirty(t);
    else output(this, t);
  }

  /** shutdown(SHUT_WR): FIN after the buffered data (RFC 9293 3.10.4 CLOSE). */
  shutdownWrite(t: Tcb): void {
    if (t.snd.finQueued) return;
    const now = this.clock.now();
    if (t.state === ESTABLISHED) setState(t, FIN_WAIT_1, now);
    else if (t.state === CLOSE_WAIT) setState(t, LAST_ACK, now);
    else return;
    t.snd.finQueued = true;
    output(this, t);
  }

  /** close(): FIN, or RST when unread data would be lost (RFC 2525 2.17; Linux). */
  closeByUser(t: Tcb): void {
    t.user = null;
    t.userClosed = true;
    const st = t.state;
    if (st === CLOSED) return;
    if (st === SYN_SENT || st === SYN_RECEIVED) {
      this.release(t);
      return;
    }
    const unread = t.rcvBuf !== null && t.rcvBuf.len > 0;
    if (unread && st !== TIME_WAIT) {
      this.counters.count("tcp.rst_unread_on_close");
      abort(this, t, null, true);
      return;
    }
    if (st !== TIME_WAIT) {
      // An orphan from here on; past the cap, reset instead (Linux's "too many orphaned
      // sockets": tcp_check_oom then tcp_send_active_reset).
      if (this.#orphans >= this.config.maxOrphans) {
        this.counters.count("tcp.orphan_overflow");
        abort(this, t, null, true);
        return;
      }
      t.orphan = true;
      this.#orphans++;
    }
    t.rcvBuf?.release();
    t.rcvBuf = null;
    if (st === ESTABLISHED || st === CLOSE_WAIT) {
      this.shutdownWrite(t);
    } else if (st === FIN_WAIT_2) {
      t.timers.lingerAt = this.clock.now() + this.config.finWait2Ms;
      this.armTimer(t, t.timers.lingerAt);
    }
  }

  /** Nagle off/on. */
  setNoDelay(t: Tcb, noDelay: boolean): void {
    t.noDelay = noDelay;
    if (noDelay) this.afterWrite(t);
  }

  /** Keepalive on/off. */
  setKeepAlive(t: Tcb, keepAlive: boolean): void {
    if (t.state === CLOSED) return;
    setKeepalive(this, t, keepAlive, this.clock.now());
    if (this.#interval === null && keepAlive) this.#startInterval();
  }

  /** Removes a closed listener. */
  unlisten(l: ListenQueue): void {
    const list = this.#listeners.get(l.port);
    if (list === undefined) return;
    const i = list.indexOf(l);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.#listeners.delete(l.port);
  }

  /** Resets a connection its listener gave up. */
  resetConn(t: Tcb): void {
    if (t.state === CLOSED) return;
    abort(this, t, connectionAborted("the listener was closed"), t.state !== SYN_SENT);
  }

  // --- internals ---

  /** A closed control block for the tuple of the segment `seg` arrived on (passive opens). */
  newTcbFor(seg: Segment, now: number): Tcb {
    const v6 = seg.v6;
    return this.newTcb(
      seg.dst,
      seg.dstPort,
      seg.src,
      seg.srcPort,
      now,
      v6 ? seg.dst6.slice() : null,
      v6 ? seg.src6.slice() : null,
    );
  }

  /**
   * A closed control block for a 4-tuple, with its estimator, algorithm and scoreboard. IPv6:
   * `laddr`/`raddr` are the address keys of `local6`/`remote6`.
   */
  newTcb(
    laddr: number,
    lport: number,
    raddr: number,
    rport: number,
    now: number,
    local6: Uint8Array | null = null,
    remote6: Uint8Array | null = null,
  ): Tcb {
    const c = this.config;
    const t = new Tcb(
      laddr,
      lport,
      raddr,
      rport,
      this.#table.hash(laddr, lport, raddr, rport),
      new RttEstimator({
        minRtoMs: c.minRtoMs,
        maxRtoMs: c.maxRtoMs,
        initialRtoMs: c.initialRtoMs,
      }),
      c.congestion === "newreno"
        ? new NewReno()
        : c.congestion === "bbr"
        ? new Bbr()
        : new Cubic(c.hystart),
      new SackScoreboard(),
      local6,
      remote6,
    );
    t.opts.tsOffset = this.isn.tsOffset(laddr, lport, raddr, rport);
    t.timers.lastRecvAt = now;
    t.stateSince = now;
    return t;
  }

  /** Send variables from the ISS (RFC 9293 3.10.1). */
  initSend(t: Tcb): void {
    t.snd.una = t.snd.iss;
    t.snd.nxt = t.snd.iss;
    t.snd.max = t.snd.iss;
    t.snd.base = (t.snd.iss + 1) >>> 0;
    t.recovery.recover = t.snd.iss;
    t.recovery.highRxt = t.snd.iss;
  }

  /**
   * The listener for `seg`'s destination: one bound to that address, else one bound to every
   * address of the segment's family, else a dual-stack one ("::").
   */
  #findListener(seg: Segment): ListenQueue | null {
    const list = this.#listeners.get(seg.dstPort);
    if (list === undefined) return null;
    let any: ListenQueue | null = null;
    let dual: ListenQueue | null = null;
    for (let i = 0; i < list.length; i++) {
      const l = list[i];
      if (l.dual) dual = l;
      else if (seg.v6) {
        if (l.local6 !== null && equalIpv6(l.local6, 0, seg.dst6)) return l;
      } else if (l.local6 === null) {
        if (l.localAddress === seg.dst) return l;
        if (l.localAddress === 0) any = l;
      }
    }
    return any ?? dual;
  }

  /** RFC 6191: a SYN may reuse a TIME_WAIT tuple when it is clearly newer. */
  #reusable(t: Tcb, seg: Segment): boolean {
    if (t.opts.tsOk && seg.opts.hasTimestamp) return seqGt(seg.opts.tsVal, t.opts.tsRecent);
    return seqGt(seg.seq, t.rcv.nxt);
  }

  /**
   * An exception inside one connection's handling (a timer, its output, a segment for it) is a
   * bug, not the peer's doing: that connection is reset (RST to the peer, ConnectionAborted to
   * its user), the error is counted (`tcp.internal_errors`) and logged once per layer with its
   * stack trace, and the stack and every other connection go on.
   */
  #contain(t: Tcb, e: unknown): void {
    this.counters.count("tcp.internal_errors");
    if (!this.#internalLogged) {
      this.#internalLogged = true;
      console.error(
        `lb.ts: TCP internal error on ${
          peerName(t)
        }; that connection is reset (logged once, counted in tcp.internal_errors): ${
          e instanceof Error ? e.stack ?? e.message : String(e)
        }`,
      );
    }
    try {
      abort(this, t, connectionAborted(`internal error on ${peerName(t)}`), true);
    } catch {
      // The reset itself failed: at least take the connection out of every table.
      t.error ??= connectionAborted(`internal error on ${peerName(t)}`);
      try {
        this.release(t);
      } catch { /* nothing more to undo */ }
    }
  }

  #startInterval(): void {
    if (this.#closed || this.#interval !== null) return;
    const id = setInterval(this.#tickBound, this.config.timerTickMs);
    // Pending TCP timers alone (e.g. TIME_WAIT) must not keep a finished program alive.
    Deno.unrefTimer(id);
    this.#interval = id;
  }

  #stopInterval(): void {
    if (this.#interval !== null) {
      clearInterval(this.#interval);
      this.#interval = null;
    }
  }
}

/** RFC 1191 7.1's MTU plateaus, for a frag-needed without a next-hop MTU. */
const MTU_PLATEAUS = [32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** The largest plateau below `datagramLen` (RFC 1191 7.1). */
function plateauBelow(datagramLen: number): number {
  for (const p of MTU_PLATEAUS) if (p < datagramLen) return p;
  return 68;
}

/** What {@link TcpLayer.usage} reports. */
export interface TcpUsage {
  /** Connections in the table (TIME_WAIT included). */
  connections: number;
  /** Of those, in TIME_WAIT. */
  timeWait: number;
  /** Closed by the application, still ending with the peer. */
  orphans: number;
  /** Bytes all buffers hold now, their peak, and the budget. */
  memoryBytes: number;
  /** The most the buffers held at once. */
  memoryPeakBytes: number;
  /** The budget (`tcp.memoryLimit`). */
  memoryLimitBytes: number;
  /** True while buffers may not grow. */
  memoryPressure: boolean;
  /** Times a buffer was kept from growing by the budget. */
  memoryGrowthDenied: number;
}

/**
 * Whether a new listener (IPv4 `addr`, 0 for any; or IPv6 `local6`; or dual-stack) and `other`
 * on the same port would take the same segments: a dual-stack one clashes with every listener,
 * IPv4 ones as before (any clashes with all IPv4), IPv6 ones with the same address.
 */
function listenersClash(
  other: ListenQueue,
  addr: number,
  local6: Uint8Array | null,
  dual: boolean,
): boolean {
  if (dual || other.dual) return true;
  if (local6 !== null || other.local6 !== null) {
    return local6 !== null && other.local6 !== null && equalIpv6(local6, 0, other.local6);
  }
  return other.localAddress === 0 || addr === 0 || other.localAddress === addr;
}
