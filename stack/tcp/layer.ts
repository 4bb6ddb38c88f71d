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
import type { Counters } from "../net/counters.ts";
import { formatIpv4, isMulticastIpv4 } from "../wire/address.ts";
import { readU32 } from "../wire/bytes.ts";
import { type Ipv4Header, newIpv4Header } from "../wire/ipv4.ts";
import { seqGt } from "../wire/seq.ts";
import { newTcpHeader, type TcpHeader, TcpView } from "../wire/tcp.ts";
import { parseTcpOptions, TcpOptions } from "../wire/tcp_options.ts";
import { type ConnectOptions, type ListenOptions, openParams } from "./api_options.ts";
import {
  resolveTcpConfig,
  type TcpConfig,
  type TcpStackOptions,
  windowScaleFor,
} from "./config.ts";
import { Cubic } from "./congestion/cubic.ts";
import { NewReno } from "./congestion/newreno.ts";
import { ConnTable } from "./conn_table.ts";
import { TcpConn } from "./conn.ts";
import type { TcpContext } from "./context.ts";
import {
  addrInUse,
  addrNotAvailable,
  badResource,
  connectionAborted,
  networkUnreachable,
} from "./errors.ts";
import { segmentArrives } from "./input.ts";
import { abort, allocateBuffers, setState } from "./transitions.ts";
import { IsnGenerator } from "./isn.ts";
import { type ListenerLayer, TcpListener } from "./listener.ts";
import { applySynOptions, offerOptions, setMss } from "./options.ts";
import { output } from "./output.ts";
import { sendCookieSynAck, sendResetFor } from "./transmit.ts";
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
  /** True for the host's own addresses. */
  hasAddress(addr: number): boolean;
  /** True for broadcast addresses. */
  isBroadcast(addr: number): boolean;
  /** Sends a complete IPv4 packet. */
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number): boolean;
  /** A fresh IPv4 identification. */
  nextIpId(): number;
}

/** Ethernet header + IPv4 header + TCP header with the largest options. */
const HEADERS = 14 + 20 + 60;
/** How long a cookie-answered listener keeps checking ACKs for cookies (RFC 4987: 2 minutes). */
const COOKIE_CHECK_MS = 120_000;

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

  readonly #host: TcpHost;
  readonly #table = new ConnTable();
  readonly #listeners = new Map<number, TcpListener[]>();
  readonly #wheel: TimerWheel<Tcb>;
  readonly #ports: PortAllocator;
  readonly #cookies = new SynCookies();
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

  /** TCP over `host` with `options` (see {@link TcpStackOptions}). */
  constructor(host: TcpHost, options?: TcpStackOptions) {
    this.#host = host;
    this.config = resolveTcpConfig(options);
    this.clock = host.clock;
    this.counters = host.counters;
    this.ttl = host.ttl;
    this.windowScale = this.config.windowScaling ? windowScaleFor(this.config.receiveBuffer) : 0;
    this.advMss = host.mtu - 40;
    this.txArea = (HEADERS + host.mtu + 7) & ~7;
    this.ctlBuf = new Uint8Array(this.txArea);
    this.#wheel = new TimerWheel<Tcb>(host.clock.now(), this.config.timerTickMs);
    const [lo, hi] = this.config.ephemeralPorts;
    this.#ports = new PortAllocator(lo, hi);
    this.#fire = (t) => onTimer(this, t, this.clock.now());
    this.#flushBound = () => this.flush();
    this.#tickBound = () => this.runTimers();
  }

  // --- TcpContext ---

  /** A fresh IPv4 identification. */
  nextIpId(): number {
    return this.#host.nextIpId();
  }

  /** Sends an IPv4 packet through the stack. */
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number): boolean {
    return this.#host.sendIpv4(buf, ipOff, ipLen);
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
      queueMicrotask(this.#flushBound);
    }
  }

  /** `t` reached CLOSED: out of every table; its user is told. */
  release(t: Tcb): void {
    if (t.state === CLOSED && !t.inTable) return;
    const prev = t.state;
    t.state = CLOSED;
    t.rtxAt = 0;
    t.rtxMode = RTX_OFF;
    t.delackAt = 0;
    t.keepAt = 0;
    t.lingerAt = 0;
    this.#wheel.cancel(t);
    this.#table.remove(t);
    const l = t.listener;
    if (l !== null) {
      t.listener = null;
      l.synRecvDone(t);
    }
    if (prev === TIME_WAIT) this.counters.count("tcp.time_wait_done");
    const user = t.user;
    if (user !== null) user.onClosed();
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
    if (!v.verifyChecksum(src, dst)) {
      counters.count("drop.tcp_bad_checksum");
      return;
    }
    // RFC 1122 4.2.3.10: a SYN (or any segment) to a broadcast or multicast address is ignored.
    if (this.#host.isBroadcast(dst) || isMulticastIpv4(dst)) {
      counters.count("drop.tcp_not_unicast");
      return;
    }
    const seg = this.#seg;
    const optReason = parseTcpOptions(buf, v.optionsOffset, v.optionsLen, seg.opts);
    if (optReason !== null) {
      counters.drop(optReason);
      return;
    }
    seg.src = src;
    seg.dst = dst;
    seg.srcPort = v.srcPort;
    seg.dstPort = v.dstPort;
    seg.seq = v.seq;
    seg.ack = v.ack;
    seg.flags = v.flags;
    seg.window = v.window;
    seg.buf = buf;
    seg.payloadOff = v.payloadOffset;
    seg.payloadLen = v.payloadLen;
    counters.count("tcp.rx_segments");
    const t = this.#table.lookup(dst, seg.dstPort, src, seg.srcPort);
    let minIss = -1;
    if (t !== null) {
      if (t.state !== TIME_WAIT || !seg.syn || seg.hasAck || seg.rst || !this.#reusable(t, seg)) {
        segmentArrives(this, t, seg);
        return;
      }
      // RFC 9293 3.6.1 / RFC 6191: a new SYN may reopen a TIME_WAIT tuple; the new ISN must
      // lie beyond everything the old connection used.
      minIss = (t.sndMax + 65536) >>> 0;
      this.counters.count("tcp.time_wait_reused");
      this.release(t);
    }
    const l = this.#findListener(dst, seg.dstPort);
    if (l !== null) {
      this.#listenInput(l, seg, minIss);
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
      if (t.state !== CLOSED) output(this, t);
      t = next;
    }
  }

  /** Runs the timers due by now, then flushes. Called by the layer's own interval. */
  runTimers(): void {
    this.#wheel.advance(this.clock.now(), this.#fire);
    this.flush();
    if (this.#wheel.size === 0) this.#stopInterval();
  }

  /** Number of connections in the table (TIME_WAIT included). */
  get connectionCount(): number {
    return this.#table.size;
  }

  // --- API ---

  /** `stack.listen`: a listener on `port` (on `hostname`, or on every address). */
  listen(options: ListenOptions): TcpListener {
    if (this.#closed) throw badResource("the stack is closed");
    const { addr, port } = openParams(options.hostname ?? "0.0.0.0", options.port, "listen");
    if (addr !== 0 && !this.#host.hasAddress(addr)) throw addrNotAvailable(formatIpv4(addr));
    const list = this.#listeners.get(port) ?? [];
    for (const other of list) {
      if (other.localAddress === 0 || addr === 0 || other.localAddress === addr) {
        throw addrInUse(`${formatIpv4(addr)}:${port}`);
      }
    }
    const backlog = options.backlog ?? this.config.acceptBacklog;
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new RangeError(`backlog ${backlog} must be a positive integer`);
    }
    const l = new TcpListener(
      this,
      { transport: "tcp", hostname: formatIpv4(addr), port },
      addr,
      backlog,
      this.config.synBacklog,
    );
    list.push(l);
    this.#listeners.set(port, list);
    return l;
  }

  /** `stack.connect`: an active open to `hostname:port`; resolves once ESTABLISHED. */
  connect(options: ConnectOptions): Promise<TcpConn> {
    if (this.#closed) return Promise.reject(badResource("the stack is closed"));
    let raddr: number;
    let rport: number;
    try {
      ({ addr: raddr, port: rport } = openParams(options.hostname, options.port, "connect"));
    } catch (e) {
      return Promise.reject(e);
    }
    const remote = `${formatIpv4(raddr)}:${rport}`;
    if (raddr === 0 || this.#host.isBroadcast(raddr) || isMulticastIpv4(raddr)) {
      return Promise.reject(networkUnreachable(`cannot connect to ${remote}`));
    }
    if (this.#host.routes.nextHop(raddr) === null) {
      return Promise.reject(networkUnreachable(`no route to ${remote}`));
    }
    const laddr = this.#host.address;
    const now = this.clock.now();
    let lport = options.localPort ?? 0;
    if (lport !== 0) {
      if (!Number.isInteger(lport) || lport < 1 || lport > 65535) {
        return Promise.reject(new RangeError(`localPort ${lport} is not in 1..65535`));
      }
      const old = this.#table.lookup(laddr, lport, raddr, rport);
      if (old !== null) {
        // Linux's tcp_tw_reuse: a TIME_WAIT tuple with timestamps, older than a second, is
        // safe to reuse (PAWS tells the old segments apart, RFC 7323 5.8).
        if (old.state === TIME_WAIT && old.tsOk && now - old.stateSince >= 1000) {
          this.counters.count("tcp.time_wait_reused");
          this.release(old);
        } else {
          return Promise.reject(addrInUse(`${formatIpv4(laddr)}:${lport} -> ${remote}`));
        }
      }
    } else {
      lport = this.#ports.pick(
        laddr,
        raddr,
        rport,
        (p) => this.#table.lookup(laddr, p, raddr, rport) === null && !this.#listeners.has(p),
      );
      if (lport < 0) return Promise.reject(addrInUse(`no free local port toward ${remote}`));
    }
    const t = this.#newTcb(laddr, lport, raddr, rport, now);
    offerOptions(this, t);
    setMss(this, t, 536);
    t.iss = this.isn.isn(laddr, lport, raddr, rport, now);
    this.#initSend(t);
    setState(t, SYN_SENT, now);
    this.#table.insert(t);
    const conn = new TcpConn(this, t);
    const established = conn.whenEstablished();
    if (options.timeoutMs !== undefined) {
      t.lingerAt = now + options.timeoutMs;
      this.armTimer(t, t.lingerAt);
    }
    this.counters.count("tcp.active_opens");
    output(this, t);
    return established;
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
    const rcv = t.rcv;
    if (rcv === null || t.state === CLOSED || t.rcvFin) return;
    const cur = (t.rcvAdv - t.rcvNxt) | 0;
    const step = rcv.max / 2 < t.advMss ? rcv.max / 2 : t.advMss;
    // RFC 9293 3.8.6.2.2: announce once the window can grow by min(buffer / 2, MSS); only
    // when the advertised window has shrunk below half the buffer (otherwise data ACKs carry it).
    if (cur <= rcv.max / 2 && rcv.free - cur >= step) {
      t.ackNow = true;
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
    if (t.finQueued) return;
    const now = this.clock.now();
    if (t.state === ESTABLISHED) setState(t, FIN_WAIT_1, now);
    else if (t.state === CLOSE_WAIT) setState(t, LAST_ACK, now);
    else return;
    t.finQueued = true;
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
    const unread = t.rcv !== null && t.rcv.len > 0;
    if (unread && st !== TIME_WAIT) {
      this.counters.count("tcp.rst_unread_on_close");
      abort(this, t, null, true);
      return;
    }
    t.rcv = null;
    if (st === ESTABLISHED || st === CLOSE_WAIT) {
      this.shutdownWrite(t);
    } else if (st === FIN_WAIT_2) {
      t.lingerAt = this.clock.now() + this.config.finWait2Ms;
      this.armTimer(t, t.lingerAt);
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
  unlisten(l: TcpListener): void {
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

  #newTcb(laddr: number, lport: number, raddr: number, rport: number, now: number): Tcb {
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
      c.congestion === "newreno" ? new NewReno() : new Cubic(),
      new SackScoreboard(),
    );
    t.tsOffset = this.isn.tsOffset(laddr, lport, raddr, rport);
    t.lastRecvAt = now;
    t.stateSince = now;
    return t;
  }

  /** Send variables from the ISS (RFC 9293 3.10.1). */
  #initSend(t: Tcb): void {
    t.sndUna = t.iss;
    t.sndNxt = t.iss;
    t.sndMax = t.iss;
    t.sndBase = (t.iss + 1) >>> 0;
    t.recover = t.iss;
    t.highRxt = t.iss;
  }

  #findListener(addr: number, port: number): TcpListener | null {
    const list = this.#listeners.get(port);
    if (list === undefined) return null;
    let any: TcpListener | null = null;
    for (let i = 0; i < list.length; i++) {
      const l = list[i];
      if (l.localAddress === addr) return l;
      if (l.localAddress === 0) any = l;
    }
    return any;
  }

  /** RFC 6191: a SYN may reuse a TIME_WAIT tuple when it is clearly newer. */
  #reusable(t: Tcb, seg: Segment): boolean {
    if (t.tsOk && seg.opts.hasTimestamp) return seqGt(seg.opts.tsVal, t.tsRecent);
    return seqGt(seg.seq, t.rcvNxt);
  }

  /** RFC 9293 3.10.7.2: a segment for a listener. */
  #listenInput(l: TcpListener, seg: Segment, minIss: number): void {
    const counters = this.counters;
    if (seg.rst) return;
    const now = this.clock.now();
    if (seg.hasAck) {
      if (!seg.syn && this.config.synCookies && now - l.lastCookieAt < COOKIE_CHECK_MS) {
        if (this.#cookieAck(l, seg, now)) return;
      }
      // "Any acknowledgment is bad if it arrives on a connection still in the LISTEN state."
      sendResetFor(this, seg);
      return;
    }
    if (!seg.syn) return;
    if (l.acceptFull()) {
      counters.count("tcp.listen_overflow");
      return;
    }
    if (l.synRecvCount >= l.synBacklog) {
      if (!this.config.synCookies) {
        counters.count("tcp.syn_backlog_drop");
        return;
      }
      // RFC 4987 3.6: answer without keeping state.
      l.lastCookieAt = now;
      const o = seg.opts;
      const ws = this.config.windowScaling ? o.windowScale : -1;
      const sack = this.config.sack && o.sackPermitted;
      const cookie = this.#cookies.make(
        seg.src,
        seg.srcPort,
        seg.dst,
        seg.dstPort,
        seg.seq,
        o.mss,
        ws,
        sack,
        now,
      );
      const tsOffset = this.isn.tsOffset(seg.dst, seg.dstPort, seg.src, seg.srcPort);
      const mss = o.mss > 0 && o.mss < this.advMss ? o.mss : this.advMss;
      sendCookieSynAck(this, seg, cookie, mss, (Math.floor(now) + tsOffset) >>> 0);
      return;
    }
    const t = this.#newTcb(seg.dst, seg.dstPort, seg.src, seg.srcPort, now);
    t.passive = true;
    t.listener = l;
    offerOptions(this, t);
    applySynOptions(this, t, seg, now);
    t.irs = seg.seq;
    t.rcvNxt = (seg.seq + 1) >>> 0;
    t.lastAckSent = t.rcvNxt;
    let iss = this.isn.isn(seg.dst, seg.dstPort, seg.src, seg.srcPort, now);
    if (minIss >= 0 && !seqGt(iss, minIss)) iss = minIss;
    t.iss = iss;
    this.#initSend(t);
    // RFC 7323 2.2: the SYN's window is not scaled.
    t.sndWnd = seg.window;
    t.sndWl1 = seg.seq;
    t.maxSndWnd = seg.window;
    setState(t, SYN_RECEIVED, now);
    this.#table.insert(t);
    l.synRecvAdd(t);
    counters.count("tcp.passive_opens");
    output(this, t);
  }

  /** The final ACK of a cookie handshake: rebuild the connection from the cookie (RFC 4987). */
  #cookieAck(l: TcpListener, seg: Segment, now: number): boolean {
    const cookie = (seg.ack - 1) >>> 0;
    const peerIsn = (seg.seq - 1) >>> 0;
    if (!this.#cookies.check(seg.src, seg.srcPort, seg.dst, seg.dstPort, peerIsn, cookie, now)) {
      this.counters.count("tcp.syncookies_failed");
      return false;
    }
    if (l.acceptFull()) {
      this.counters.count("tcp.listen_overflow");
      return true; // dropped: the peer will retransmit
    }
    const d = this.#cookies.last;
    const t = this.#newTcb(seg.dst, seg.dstPort, seg.src, seg.srcPort, now);
    t.passive = true;
    const c = this.config;
    t.wsOk = c.windowScaling && d.windowScale >= 0;
    t.sndWscale = t.wsOk ? d.windowScale : 0;
    t.rcvWscale = t.wsOk ? this.windowScale : 0;
    t.sackOk = c.sack && d.sackPermitted;
    t.tsOk = c.timestamps && seg.opts.hasTimestamp;
    if (t.tsOk) {
      t.tsRecent = seg.opts.tsVal;
      t.tsRecentAge = now;
    }
    t.advMss = this.advMss;
    setMss(this, t, d.mss);
    t.iss = cookie;
    this.#initSend(t);
    t.sndUna = seg.ack;
    t.sndNxt = seg.ack;
    t.sndMax = seg.ack;
    t.irs = peerIsn;
    t.rcvNxt = seg.seq;
    t.lastAckSent = seg.seq;
    const free = c.receiveBuffer;
    t.rcvAdv = (seg.seq + (free > 0xffff ? 0xffff : free)) >>> 0;
    t.sndWnd = seg.window << t.sndWscale;
    t.sndWl1 = seg.seq;
    t.sndWl2 = seg.ack;
    t.maxSndWnd = t.sndWnd;
    setState(t, ESTABLISHED, now);
    allocateBuffers(this, t);
    this.#table.insert(t);
    this.counters.count("tcp.syncookies_ok");
    l.enqueue(t);
    // The ACK may carry data already: process it as a segment of the new connection.
    if (seg.payloadLen > 0 || seg.fin) segmentArrives(this, t, seg);
    return true;
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
