/**
 * The `Stack`: one device, its addresses, ARP, routes, IPv4 in/out, ICMP and UDP, wired together.
 * A frame goes Ethernet demux -> ARP or IPv4 input -> reassembly -> packet hook -> local delivery;
 * every frame ends in a counter, and nothing is thrown out of the receive loop.
 *
 * @module
 */

import { type Clock, systemClock } from "../clock.ts";
import type { Device, DeviceStats } from "../link/device.ts";
import {
  clearOffload,
  type FrameOffload,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
  VNET_GSO_TCPV6,
} from "../wire/virtio_net.ts";
import { readU32 } from "../wire/bytes.ts";
import { Loopback } from "./loopback.ts";
import { formatIpv4, formatMac, parseIpv4, prefixMask } from "../wire/address.ts";
import { ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6, EthernetView } from "../wire/ethernet.ts";
import { formatIpv6, parseIpv6 } from "../wire/address6.ts";
import { IPV6_FRAGMENT, IPV6_NH_TCP, IPV6_NH_UDP } from "../wire/ipv6.ts";
import {
  type Ipv6Address,
  Ipv6Host,
  type Ipv6NeighborRow,
  type Ipv6RouteRow,
} from "./ipv6_host.ts";
import { ICMP_CODE_REASSEMBLY_TIME_EXCEEDED, ICMP_TIME_EXCEEDED } from "../wire/icmp.ts";
import { IP_PROTO_ICMP, IP_PROTO_IPIP, IP_PROTO_TCP, IP_PROTO_UDP } from "../wire/ipv4.ts";
import { UdpDemux } from "../udp/demux.ts";
import type { ConnectOptions, ListenOptions } from "../tcp/api_options.ts";
import type { TcpStackOptions } from "../tcp/config.ts";
import type { TcpConn } from "../tcp/conn.ts";
import { TcpLayer, type TcpUsage } from "../tcp/layer.ts";
import { neighbourUnreachable, neighbourUnreachable6 } from "../tcp/unreachable.ts";
import { LoopRef } from "./loop_ref.ts";
import { HttpClient, type StackRequestInit } from "../http/client.ts";
import type { PoolOptions } from "../http/pool.ts";
import {
  DEFAULT_SERVE_PORT,
  type HttpServer,
  type ServeHandler,
  serveListener,
  type ServeOptions,
  type ServeOptionsWithHandler,
} from "../http/server.ts";
import type { TcpListener } from "../tcp/listener.ts";
import type { TcpSocketInfo } from "../tcp/snapshot.ts";
import { listenDatagram, type UdpListenOptions, type UdpSocket } from "../udp/socket.ts";
import { ArpCache, type ArpOptions, type ArpState } from "./arp.ts";
import { ArpProtocol } from "./arp_protocol.ts";
import { Counters } from "./counters.ts";
import { FrameClock } from "./frame_clock.ts";
import type { PacketHook } from "./hook.ts";
import { Icmp, type IcmpOptions } from "./icmp.ts";
import { PmtuCache } from "./pmtu.ts";
import { newIcmpQuote, parseIcmpQuote, QUOTE_NOT_RELAYED } from "../wire/icmp_quote.ts";
import { IpipInput } from "./ipip_input.ts";
import { Ipv4Input, type ProtocolHandler } from "./ipv4_input.ts";
import { Ipv4Output } from "./ipv4_output.ts";
import { Pinger, type PingOptions, type PingReply } from "./ping.ts";
import { Reassembler, type ReassemblyOptions } from "./reassembly.ts";
import { RouteTable } from "./route.ts";

/** Options of {@link Stack}. */
export interface StackOptions {
  /** The link device (TAP, in-memory, ...). The stack closes it on `close()`. */
  device: Device;
  /** Interface address (u32). */
  address: number;
  /** Its prefix length: gives the connected route. */
  prefix: number;
  /** Default gateway (u32); none when omitted or 0. */
  gateway?: number;
  /** Time source (default the system clock); tests pass a `FakeClock`. */
  clock?: Clock;
  /** TTL of datagrams the stack builds (default 64, Linux's ip_default_ttl). */
  ttl?: number;
  /** ARP cache tunables. */
  arp?: ArpOptions;
  /** Reassembly tunables. */
  reassembly?: ReassemblyOptions;
  /** ICMP error rate limit. */
  icmp?: IcmpOptions;
  /** Offer packets for other hosts to the hook (a NAT balancer sees the real servers' replies). */
  forwarding?: boolean;
  /** Period of `tick()` while running (default 100 ms). */
  tickMs?: number;
  /** TCP tunables (congestion control, buffers, timers, backlogs; see stack/tcp/config.ts). */
  tcp?: TcpStackOptions;
  /**
   * IPv6 addresses ("2001:db8::2/64"): the stack then answers Neighbor Discovery and echo
   * requests on them and on its link-local address, and TCP and UDP speak IPv6 on them
   * (stack/net/ipv6_host.ts; sockets on "::" are dual-stack). None by default.
   */
  ipv6?: string[];
  /** The IPv6 default gateway ("fe80::1" or a global address on a configured prefix). */
  gateway6?: string;
  /** Run duplicate address detection on the IPv6 addresses at start (RFC 4862; default true). */
  dad?: boolean;
}

/** A JSON-able picture of the stack for `lb.ts arp`, `route` and `stats`. */
export interface StackSnapshot {
  /** The device's name. */
  name: string;
  /** The device's MAC, "02:00:00:00:00:01". */
  mac: string;
  /** The device's MTU. */
  mtu: number;
  /** Owned addresses, the interface address first, dotted quads. */
  addresses: string[];
  /** Interface address and prefix, "10.0.0.2/24". */
  cidr: string;
  /** The ARP cache, as `ip neigh` lists it. */
  arp: { ip: string; mac: string | null; state: ArpState; ageMs: number; permanent: boolean }[];
  /** The routing table, as `route -n` lists it. */
  routes: {
    destination: string;
    gateway: string;
    genmask: string;
    flags: string;
    metric: number;
    use: number;
    iface: string;
  }[];
  /** Every counter by name (drops by reason, protocol events). */
  counters: Record<string, number>;
  /** The device's frame and byte counts. */
  device: DeviceStats;
  /** TCP listeners and connections (netstat). */
  tcp: TcpSocketInfo[];
  /** TCP's TIME_WAIT, orphan and buffer-memory usage against its bounds. */
  tcpUsage: TcpUsage;
  /** IPv6 addresses with their DAD state ("2001:db8::2/64 preferred"); absent without IPv6. */
  ipv6?: { address: string; prefix: number; state: string }[];
  /** The IPv6 neighbor cache, as `ip -6 neigh` lists it; absent without IPv6. */
  neigh6?: Ipv6NeighborRow[];
  /** The IPv6 routes, as `route -n -A inet6` lists them; absent without IPv6. */
  routes6?: Ipv6RouteRow[];
}

/** Set by the Stack's static block: see {@link handDriven}. */
let markHandDriven: (s: Stack) => void;

/**
 * Marks a stack that a test or benchmark drives by hand (frames through `input()`, output
 * through `tcp.flush()`, never `start()`): its `connect()` then works without `start()`. Not
 * part of the library's API (mod.ts does not export it).
 */
export function handDriven(stack: Stack): Stack {
  markHandDriven(stack);
  return stack;
}

/**
 * A userspace IPv4 host on one link device.
 *
 * @example Two hosts on an in-memory cable, one echoing what the other sends
 * ```ts
 * import { createMemoryPair, parseIpv4, Stack } from "../../mod.ts";
 *
 * const [a, b] = createMemoryPair();
 * const server = new Stack({ device: a, address: parseIpv4("10.0.0.1")!, prefix: 24 });
 * const client = new Stack({ device: b, address: parseIpv4("10.0.0.2")!, prefix: 24 });
 * const runs = [server.start(), client.start()];
 * const listener = server.listen({ port: 7 });
 * const served = listener.accept().then((c) => c.readable.pipeTo(c.writable));
 * const conn = await client.connect({ hostname: "10.0.0.1", port: 7 });
 * await conn.write(new TextEncoder().encode("hi"));
 * const buf = new Uint8Array(2);
 * await conn.read(buf);
 * await conn.closeWrite(); // the server's pipe ends, and closes its side
 * await served;
 * conn.close();
 * server.close();
 * client.close();
 * await Promise.all(runs);
 * ```
 */
export class Stack {
  /** The link device. */
  readonly device: Device;
  /** Time source for every expiry: the given clock, read at most once per received frame. */
  readonly clock: Clock;
  /** Per-reason counters. */
  readonly counters: Counters = new Counters();
  /**
   * The routing table (the CLI's `route`; the balancer's next hops).
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  readonly routes: RouteTable = new RouteTable();
  /**
   * The ARP cache.
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  readonly arp: ArpCache;
  /**
   * UDP demultiplexing by port.
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  readonly udp: UdpDemux;
  /**
   * TCP: connections, listeners, timers (stack/tcp/).
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  readonly tcp: TcpLayer;
  /**
   * Path MTUs learned from ICMP fragmentation needed (RFC 1191), by destination.
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  readonly pmtu: PmtuCache;
  /** The quoted packet of the ICMP error being handled (reused). */
  readonly #quote = newIcmpQuote();
  /** The interface address. */
  readonly address: number;
  /** The interface prefix length. */
  readonly prefix: number;
  /** TTL of datagrams the stack builds. */
  readonly ttl: number;
  /**
   * Whether packets for other hosts are offered to the hook. Writable: the balancer turns it on
   * when it has a NAT service, so it sees the real servers' replies (addressed to the client).
   */
  forwarding: boolean;

  /** Further owned addresses, as int32 (`addr | 0`: unboxed in V8, see arp.ts). */
  readonly #extra = new Set<number>();
  /** Owned addresses that ARP neither answers nor announces (a real server's VIP). */
  readonly #noArp = new Set<number>();
  /** Functions run at every tick (the balancer's connection-table sweep). */
  readonly #tickListeners: (() => void)[] = [];
  #ipip: IpipInput | null = null;
  readonly #frameClock: FrameClock;
  readonly #broadcast: number;
  readonly #eth = new EthernetView();
  readonly #arpProto: ArpProtocol;
  /** IPv6, when addresses were configured (`ipv6` option); null otherwise. */
  readonly ipv6: Ipv6Host | null;
  readonly #reassembler: Reassembler;
  readonly #in: Ipv4Input;
  readonly #out: Ipv4Output;
  readonly #icmp: Icmp;
  readonly #pinger: Pinger;
  readonly #tickMs: number;
  #ipId: number;
  #rxLinkGroup = false;
  /** The device's receive offload metadata (null without offloads), read per frame. */
  readonly #rxo: FrameOffload | null;
  #rxCsumTrusted = false;
  #started = false;
  #closed = false;
  #handDriven = false;
  /** `stack.fetch`'s default client (its connection pool); null until first used. */
  #http: HttpClient | null = null;
  /** Packets the host sends to itself (loopback.ts). */
  readonly #loopback: Loopback;
  /** Whether the frame loop and the tick keep the program alive (`ref()`/`unref()`). */
  readonly #loop = new LoopRef((alive) => this.#keepAlive(alive));
  #timer: ReturnType<typeof setInterval> | null = null;
  #loggedInternalError = false;
  /** The receive handler, bound once (no closure per frame). */
  readonly #onFrame: (buf: Uint8Array, off: number, len: number) => void;
  readonly #onTimeout: (buf: Uint8Array, ipOff: number, len: number) => void;
  /** Called by the device loop after each burst of frames: TCP's batched output. */
  readonly #onIdle: () => void;

  static {
    markHandDriven = (s) => s.#handDriven = true;
  }

  /** Builds the stack; nothing is sent before `start()`. */
  constructor(options: StackOptions) {
    const { device, address, prefix } = options;
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > 32) {
      throw new RangeError(`prefix ${prefix} is not in 0..32`);
    }
    this.device = device;
    this.#rxo = device.rxOffload ?? null;
    this.#frameClock = new FrameClock(options.clock ?? systemClock);
    this.clock = this.#frameClock;
    this.address = address >>> 0;
    this.prefix = prefix;
    this.ttl = options.ttl ?? 64;
    this.forwarding = options.forwarding ?? false;
    this.#tickMs = options.tickMs ?? 100;
    const mask = prefixMask(prefix);
    // /31 and /32 have no broadcast address (RFC 3021).
    this.#broadcast = prefix >= 31 ? 0xffffffff : ((this.address & mask) | ~mask) >>> 0;
    this.#ipId = Math.floor(Math.random() * 65536);

    this.#arpProto = new ArpProtocol(this);
    this.#out = new Ipv4Output(this);
    this.ipv6 = options.ipv6 === undefined || options.ipv6.length === 0 ? null : new Ipv6Host(
      device,
      device.mac,
      this.clock,
      this.counters,
      options.ipv6.map(parseIpv6Cidr),
      options.gateway6 === undefined ? null : parseIpv6Address(options.gateway6, "gateway6"),
      options.dad ?? true,
    );
    this.arp = new ArpCache(
      {
        sendArpRequest: (ip, mac) => this.#arpProto.sendArpRequest(ip, mac),
        sendQueued: (buf, ipOff, ipLen, mac) => this.#out.transmit(buf, ipOff, ipLen, mac),
        unresolved: (_ip, buf, ipOff) => neighbourUnreachable(this.tcp, buf, ipOff),
      },
      this.clock,
      this.counters,
      options.arp,
    );
    this.#reassembler = new Reassembler(this.counters, options.reassembly);
    this.#in = new Ipv4Input(this, this.#reassembler);
    this.#icmp = new Icmp(this, options.icmp);
    this.#pinger = new Pinger(this);
    this.#icmp.onEchoReply = (from, ttl, id, seq, len) =>
      this.#pinger.onEchoReply(from, ttl, id, seq, len);
    this.udp = new UdpDemux(this);
    this.pmtu = new PmtuCache(this.clock);
    // ICMP errors about our own packets go to the transport that sent the quoted one.
    this.#icmp.onError = (buf, ipOff, ipLen) => this.#icmpError(buf, ipOff, ipLen);
    this.#in.setProtocol(IP_PROTO_ICMP, (b, o, l) => this.#icmp.input(b, o, l));
    this.#in.setProtocol(IP_PROTO_UDP, (b, o, l) => this.udp.input(b, o, l));
    if (this.ipv6 !== null) {
      this.ipv6.setProtocol(IPV6_NH_UDP, (b, o, e, u) => this.udp.input6(b, o, e, u));
      // As over IPv4: no connected UDP sockets to tell, so an error about UDP is counted.
      this.ipv6.setErrorHandler(IPV6_NH_UDP, () => this.counters.count("udp.icmp_errors"));
    }
    this.tcp = new TcpLayer(this, options.tcp);
    this.tcp.loop = this.#loop;
    this.#in.setProtocol(IP_PROTO_TCP, (b, o, l) => this.tcp.input(b, o, l));
    if (this.ipv6 !== null) {
      this.ipv6.setProtocol(IPV6_NH_TCP, (b, o, e, u) => this.tcp.input6(b, o, e, u));
      this.ipv6.onUnresolved = (frame, ipOff) => neighbourUnreachable6(this.tcp, frame, ipOff);
      this.ipv6.loop = (buf, ipOff, len, offload) => this.#loopback.send(buf, ipOff, len, offload);
      this.ipv6.setErrorHandler(
        IPV6_NH_TCP,
        (type, code, param, b, q, end) => this.tcp.icmpError6(type, code, param, b, q, end),
      );
    }

    this.routes.add({ destination: this.address, prefix, gateway: 0, iface: device.name });
    const gateway = (options.gateway ?? 0) >>> 0;
    if (gateway !== 0) {
      this.routes.add({ destination: 0, prefix: 0, gateway, iface: device.name });
    }
    this.#onFrame = (buf, off, len) => {
      try {
        this.input(buf, off, len);
      } catch (e) {
        this.#frameClock.endFrame();
        this.#rxLinkGroup = false;
        this.#rxCsumTrusted = false;
        this.#internalError(e);
      }
    };
    this.#onIdle = () => {
      try {
        this.tcp.flush();
      } catch (e) {
        this.#internalError(e);
      }
    };
    this.#loopback = new Loopback({
      deliver: (buf, ipLen, gsoSize) => this.#deliverLooped(buf, ipLen, gsoSize),
      flush: () => this.#onIdle(),
      dropped: () => this.counters.count("drop.loopback_queue_full"),
    });
    this.#onTimeout = (buf, ipOff, len) =>
      this.#icmp.sendError(
        ICMP_TIME_EXCEEDED,
        ICMP_CODE_REASSEMBLY_TIME_EXCEEDED,
        0,
        buf,
        ipOff,
        len,
      );
  }

  /** The device's MAC. */
  get mac(): Uint8Array {
    return this.device.mac;
  }

  /** The device's MTU. */
  get mtu(): number {
    return this.device.mtu;
  }

  /** The packet hook between IPv4 input and local delivery (see hook.ts), or null. */
  get hook(): PacketHook | null {
    return this.#in.hook;
  }
  set hook(h: PacketHook | null) {
    this.#in.hook = h;
  }

  /** True while handling a frame sent to a link-layer broadcast or multicast address. */
  get rxLinkGroup(): boolean {
    return this.#rxLinkGroup;
  }

  /**
   * True while handling a frame whose TCP/UDP checksum the device vouches for: partial
   * (NEEDS_CSUM: only the pseudo-header sum, completed by whoever finally sends it) or verified
   * by the kernel (DATA_VALID). TCP and UDP input skip their check then (stack/link/offload.ts).
   * Never true for a fragment (the metadata is about one frame, not a reassembled datagram).
   */
  get rxChecksumTrusted(): boolean {
    return this.#rxCsumTrusted;
  }

  /** True for every address the host owns: the interface address and the extra ones. */
  hasAddress(addr: number): boolean {
    return addr === this.address || (this.#extra.size > 0 && this.#extra.has(addr | 0));
  }

  /** True for 255.255.255.255 and the connected subnet's directed broadcast. */
  isBroadcast(addr: number): boolean {
    return addr === 0xffffffff || addr === this.#broadcast;
  }

  /**
   * Adds an owned address (a VIP): answered in ARP, announced (at once when running), answered
   * to ping, delivered locally. With `{ arp: false }` the address is delivered locally and
   * answered to ping but never answered nor announced in ARP: a real server's VIP, held like
   * Linux holds one on `lo`/`tunl0` with arp_ignore=1 and arp_announce=2, so only the balancer
   * answers ARP for it.
   */
  addAddress(addr: number, options: { arp?: boolean } = {}): void {
    addr >>>= 0;
    if (this.hasAddress(addr)) return;
    this.#extra.add(addr | 0);
    if (options.arp === false) {
      this.#noArp.add(addr | 0);
      return;
    }
    if (this.#started && !this.#closed) this.#arpProto.announce(addr);
  }

  /** Removes an extra address; the interface address cannot be removed. True if it was there. */
  removeAddress(addr: number): boolean {
    this.#noArp.delete(addr | 0);
    return this.#extra.delete(addr | 0);
  }

  /** True for an owned address that ARP answers (every one but those added with `arp: false`). */
  answersArp(addr: number): boolean {
    return this.hasAddress(addr) && (this.#noArp.size === 0 || !this.#noArp.has(addr | 0));
  }

  /**
   * Turns decapsulation of IP-in-IP (RFC 2003, protocol 4) addressed to this host on or off (off
   * by default: protocol unreachable). When on, the inner datagram goes through IPv4 input as if
   * it had arrived on the link, like Linux's `tunl0`: a TUN real server receives the balancer's
   * tunnelled packets this way (stack/net/ipip_input.ts).
   */
  acceptIpip(on = true): void {
    if (on) {
      this.#ipip ??= new IpipInput(this.counters, (b, o, l) => this.#in.input(b, -1, o, l));
      const ipip = this.#ipip;
      this.#in.setProtocol(IP_PROTO_IPIP, (b, o, l) => ipip.input(b, o, l));
    } else {
      this.#in.setProtocol(IP_PROTO_IPIP, null);
    }
  }

  /**
   * Runs `fn` at every periodic tick (after the stack's own sweeps), e.g. the balancer's
   * connection-table expiry. Returns a function that removes it.
   */
  onTick(fn: () => void): () => void {
    this.#tickListeners.push(fn);
    return () => {
      const i = this.#tickListeners.indexOf(fn);
      if (i >= 0) this.#tickListeners.splice(i, 1);
    };
  }

  /** Every owned address, the interface address first. */
  addresses(): number[] {
    return [this.address, ...[...this.#extra].map((a) => a >>> 0)];
  }

  /**
   * Sets the local-delivery handler for an IP protocol (TCP registers 6). ICMP (1) and UDP (17)
   * are the stack's own but may be replaced.
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  registerProtocol(protocol: number, handler: ProtocolHandler): void {
    this.#in.setProtocol(protocol, handler);
  }

  /**
   * Removes the handler for `protocol` (its packets then get protocol unreachable).
   *
   * @ignore plumbing for the balancer and the CLI, not the library's API
   */
  unregisterProtocol(protocol: number): void {
    this.#in.setProtocol(protocol, null);
  }

  /** A fresh IPv4 identification for a datagram the stack builds. */
  nextIpId(): number {
    this.#ipId = (this.#ipId + 1) & 0xffff;
    return this.#ipId;
  }

  /**
   * Announces every address (gratuitous ARP), starts the periodic tick and runs the device's
   * receive loop. Resolves when the stack is closed.
   */
  async start(): Promise<void> {
    if (this.#started) throw new Error("Stack.start: already started");
    if (this.#closed) throw new Error("Stack.start: closed");
    this.#started = true;
    for (const addr of this.addresses()) {
      if (this.answersArp(addr)) this.#arpProto.announce(addr);
    }
    if (this.ipv6 !== null) this.ipv6.start();
    // An exception in a timer callback would end the process: count it like a frame's.
    this.#timer = setInterval(() => {
      try {
        this.tick();
      } catch (e) {
        this.#internalError(e);
      }
    }, this.#tickMs);
    if (!this.#loop.alive) this.#keepAlive(false);
    // TCP sends what a burst of frames made due (ACKs, data) once the burst is read.
    this.tcp.flushOnIdle = true;
    try {
      await this.device.run(this.#onFrame, this.#onIdle);
    } finally {
      this.tcp.flushOnIdle = false;
      this.#stopTimer();
    }
  }

  /**
   * The stack keeps the program alive again (the default), as Deno's `ref()` on a resource:
   * its frame loop and tick are referenced.
   */
  ref(): void {
    this.#loop.ref();
  }

  /**
   * The stack stops keeping the program alive, as Deno's `unref()`: the program ends when
   * nothing else is left to do, unless a referenced socket of the stack is waiting (an
   * `accept()`, a `read()`, a handshake; see their own `ref()`/`unref()`).
   *
   * @example A client that exits once its work is done, while the stack is still running
   * ```ts ignore
   * stack.start();
   * stack.unref();
   * const conn = await stack.connect({ hostname: "10.0.0.1", port: 80 }); // keeps it alive
   * ```
   */
  unref(): void {
    this.#loop.unref();
  }

  /** Applies the loop's reference state to the tick timer and the device's receive loop. */
  #keepAlive(alive: boolean): void {
    if (this.#timer !== null) {
      if (alive) Deno.refTimer(this.#timer);
      else Deno.unrefTimer(this.#timer);
    }
    if (alive) this.device.ref?.();
    else this.device.unref?.();
  }

  /**
   * Stops the tick, resolves outstanding pings with null, closes `fetch`'s connection pool,
   * resets TCP connections and closes the device. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopTimer();
    this.#pinger.cancelAll();
    // Idle pooled HTTP connections end with a FIN before the rest are reset.
    this.#http?.close();
    // Connections are reset (their RSTs leave before the device closes), listeners closed.
    this.tcp.close();
    this.device.close();
  }

  /** Runs the periodic sweeps (ARP states and retries, reassembly timeouts) at `clock.now()`. */
  tick(): void {
    this.arp.sweep();
    if (this.ipv6 !== null) this.ipv6.tick();
    this.#reassembler.sweep(this.clock.now(), this.#onTimeout);
    const listeners = this.#tickListeners;
    for (let i = 0; i < listeners.length; i++) listeners[i]();
  }

  /**
   * Handles one received Ethernet frame `buf[off .. off+len)`. Public for tests and benchmarks;
   * while running, the device loop calls it (through a try/catch that counts
   * "drop.internal_error").
   */
  input(buf: Uint8Array, off: number, len: number): void {
    // One clock reading serves the whole frame (frame_clock.ts; #onFrame ends it on a throw).
    const clock = this.#frameClock;
    clock.beginFrame();
    this.#demux(buf, off, len);
    clock.endFrame();
  }

  /** Ethernet demultiplexing of one frame (see {@link input}). */
  #demux(buf: Uint8Array, off: number, len: number): void {
    const counters = this.counters;
    counters.count("rx_frames");
    const eth = this.#eth.wrap(buf, off, len);
    const reason = eth.check();
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    if (eth.tagged) {
      counters.count("drop.eth_vlan_tagged");
      return;
    }
    const group = eth.isMulticast();
    if (!group && !eth.dstEquals(this.device.mac)) {
      counters.count("drop.not_our_mac");
      return;
    }
    const type = eth.etherType;
    if (type === ETH_TYPE_IPV4) {
      const ipOff = eth.payloadOffset;
      const rxo = this.#rxo;
      if (rxo !== null && (rxo.flags | rxo.gsoType) !== 0) this.#rxOffloaded(buf, ipOff, rxo);
      this.#rxLinkGroup = group;
      this.#in.input(buf, off, ipOff, eth.payloadLen);
      this.#rxLinkGroup = false;
      this.#rxCsumTrusted = false;
    } else if (type === ETH_TYPE_ARP) {
      this.#arpProto.input(buf, eth.payloadOffset, eth.payloadLen);
    } else if (type === ETH_TYPE_IPV6 && this.ipv6 !== null) {
      const ipOff = eth.payloadOffset;
      const rxo = this.#rxo;
      if (rxo !== null && (rxo.flags | rxo.gsoType) !== 0) {
        if (rxo.gsoType !== 0) this.counters.count("link.rx_gso");
        // A fragment's checksum covers the whole datagram: never vouched for (as over IPv4).
        this.#rxCsumTrusted = buf[ipOff + 6] !== IPV6_FRAGMENT &&
          (rxo.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;
      }
      this.ipv6.input(buf, ipOff, eth.payloadLen);
      this.#rxCsumTrusted = false;
    } else {
      counters.count("drop.eth_unknown_type");
    }
  }

  /**
   * Sends a packet the caller built completely (`buf[ipOff .. ipOff+ipLen)`, checksum included,
   * `ipOff >= 14` for the Ethernet header): route lookup, fragmentation, ARP. True when sent or
   * queued for ARP; false when dropped (counted). `offload` is the packet's own metadata (null:
   * plain), only on a device with `txOffloads`: a partial TCP checksum or a TCP super-frame
   * (stack/net/ipv4_output.ts); it is read, never changed.
   */
  sendIpv4(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    offload: FrameOffload | null = null,
  ): boolean {
    // 127/8 and the host's own addresses loop back (loopback.ts); the rest goes out.
    const dst = readU32(buf, ipOff + 16);
    if ((dst >>> 24) === 127 || this.hasAddress(dst)) {
      return this.#loopback.send(buf, ipOff, ipLen, offload);
    }
    return this.#out.send(buf, ipOff, ipLen, offload);
  }

  /**
   * Like {@link sendIpv4} but to an explicit next hop, whatever the destination address (direct
   * routing: the destination stays the VIP, the frame goes to the real server's MAC).
   */
  sendIpv4Via(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    nextHop: number,
    offload: FrameOffload | null = null,
  ): boolean {
    return this.#out.sendVia(buf, ipOff, ipLen, nextHop >>> 0, offload);
  }

  /**
   * An ICMP error addressed to us (RFC 1122 3.2.2.1: "MUST be passed to the transport layer"):
   * the quoted TCP segment's connection hears of it (stack/tcp/layer.ts icmpError). UDP has no
   * connected sockets here (Deno's UDP API has none), so there is nobody to tell: counted, as
   * Linux drops errors for unconnected UDP sockets.
   */
  #icmpError(buf: Uint8Array, ipOff: number, ipLen: number): void {
    const q = this.#quote;
    const bad = parseIcmpQuote(buf, ipOff, ipLen, q);
    if (bad !== null) {
      if (bad !== QUOTE_NOT_RELAYED) this.counters.drop(bad);
      return;
    }
    if (q.protocol === IP_PROTO_TCP) this.tcp.icmpError(buf, q);
    else this.counters.count("udp.icmp_errors");
  }

  /**
   * Sends an ICMP error about `buf[ipOff .. ipOff+ipLen)` (e.g. the balancer's fragmentation
   * needed with the next-hop MTU in `restOfHeader`). RFC 1122 3.2.2's rules and the rate limit
   * apply; true when sent.
   */
  sendIcmpError(
    type: number,
    code: number,
    restOfHeader: number,
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
  ): boolean {
    return this.#icmp.sendError(type, code, restOfHeader, buf, ipOff, ipLen);
  }

  /**
   * Binds a UDP socket shaped like `Deno.DatagramConn` (see stack/udp/socket.ts), as
   * `Deno.listenDatagram({ port, hostname, transport: "udp" })` does.
   */
  listenDatagram(options: UdpListenOptions): UdpSocket {
    return listenDatagram(this, options);
  }

  /**
   * Listens for TCP connections, as `Deno.listen({ port, hostname })`: an async-iterable
   * listener whose connections are shaped like `Deno.Conn` (stack/tcp/listener.ts).
   */
  listen(options: ListenOptions): TcpListener {
    return this.tcp.listen(options);
  }

  /**
   * Opens a TCP connection, as `Deno.connect({ hostname, port })` (hostname: an IPv4 literal);
   * resolves once established (stack/tcp/conn.ts).
   */
  connect(options: ConnectOptions): Promise<TcpConn> {
    if (!this.#started && !this.#closed && !this.#handDriven) {
      // Nothing would send the SYN's ARP request or receive the answer: say so instead of hanging.
      return Promise.reject(
        new Deno.errors.NotConnected("stack.connect: the stack is not started (call start())"),
      );
    }
    return this.tcp.connect(options);
  }

  /**
   * Serves HTTP/1.1 on the stack as `Deno.serve` does on the kernel's sockets: the handler
   * takes a web-standard `Request` and returns a `Response` (stack/http/server.ts: keep-alive,
   * streamed and chunked bodies both ways, 4xx for malformed requests, `signal` and
   * `shutdown()` to stop, `finished`). Listens on port 8000 unless told otherwise.
   *
   * @example A Hono app (or any `fetch`-style handler) on the userspace stack
   * ```ts ignore
   * import { Hono } from "hono";
   * const app = new Hono();
   * app.get("/", (c) => c.text("hello from the userspace stack"));
   * stack.serve({ port: 80 }, app.fetch);
   * ```
   */
  serve(handler: ServeHandler<Deno.NetAddr>): HttpServer<Deno.NetAddr>;
  /** Serves HTTP with `options` (port, hostname, signal, onListen, onError, ...). */
  serve(options: ServeOptions, handler: ServeHandler<Deno.NetAddr>): HttpServer<Deno.NetAddr>;
  /** Serves HTTP with the handler among the options. */
  serve(options: ServeOptionsWithHandler): HttpServer<Deno.NetAddr>;
  serve(
    a: ServeHandler<Deno.NetAddr> | ServeOptions | ServeOptionsWithHandler,
    b?: ServeHandler<Deno.NetAddr>,
  ): HttpServer<Deno.NetAddr> {
    const options: ServeOptions = typeof a === "function" ? {} : a;
    const handler = typeof a === "function" ? a : b ?? (a as ServeOptionsWithHandler).handler;
    if (typeof handler !== "function") throw new TypeError("stack.serve: no handler");
    const listener = this.listen({
      port: options.port ?? DEFAULT_SERVE_PORT,
      hostname: options.hostname,
      tcpBacklog: options.tcpBacklog,
    });
    return serveListener(listener, handler, options);
  }

  /**
   * `fetch` over the stack's TCP, as the global `fetch` over the kernel's: HTTP/1.1 to an
   * `http://` URL with an IPv4 literal (stack/http/client.ts): streamed bodies both ways,
   * redirects, `signal`. Rejects with a TypeError for network failures, as `fetch` does.
   * Connections persist: one whose response was read to the end is kept for the next request
   * to the same host:port (at most 16 per origin, 4 s idle; stack/http/pool.ts), unless the
   * request says "Connection: close"; `init.client` picks another pool
   * ({@link createHttpClient}). `close()` closes the pool.
   *
   * @example Download through the userspace stack and hash the body as it streams
   * ```ts ignore
   * const res = await stack.fetch("http://10.0.0.1/big", { signal: AbortSignal.timeout(60_000) });
   * const hash = createHash("sha256");
   * for await (const piece of res.body!) hash.update(piece);
   * ```
   */
  fetch(input: string | URL | Request, init?: StackRequestInit): Promise<Response> {
    if (init?.client === undefined) return this.#httpClient().fetch(input, init as RequestInit);
    // Deno's Request takes `client` for a Deno.HttpClient only: ours stays out of it.
    const { client, ...rest } = init;
    if (!(client instanceof HttpClient)) {
      return Promise.reject(
        new TypeError("stack.fetch: client is not one of stack.createHttpClient()"),
      );
    }
    return client.fetch(input, rest as RequestInit);
  }

  /**
   * A client with a connection pool of its own, as `Deno.createHttpClient`: pass it as
   * `stack.fetch(url, { client })`; `poolMaxIdlePerHost: 0` keeps no connection.
   *
   * @example One request per connection
   * ```ts ignore
   * const once = stack.createHttpClient({ poolMaxIdlePerHost: 0 });
   * await stack.fetch("http://10.0.0.1/", { client: once });
   * ```
   */
  createHttpClient(options: PoolOptions = {}): HttpClient {
    return new HttpClient(
      (hostname, port, signal) => this.connect({ hostname, port, signal }),
      options,
    );
  }

  /** The pool of `stack.fetch` without a client, made on first use. */
  #httpClient(): HttpClient {
    return this.#http ??= this.createHttpClient();
  }

  /** Every TCP listener and connection, as `netstat -nat` lists them. */
  tcpSnapshot(): TcpSocketInfo[] {
    return this.tcp.snapshot();
  }

  /**
   * Pings `dst` (an IPv4 address as a number or a dotted-quad string) once (see
   * {@link PingOptions}); null on timeout. 127/8 and the host's own addresses are answered by
   * the host itself through the loopback, as on Linux.
   *
   * @example
   * ```ts ignore
   * const reply = await stack.ping("127.0.0.1");
   * console.log(reply === null ? "no answer" : `${reply.rttMs.toFixed(3)} ms`);
   * ```
   */
  ping(dst: number | string, options?: PingOptions): Promise<PingReply | null> {
    const addr = typeof dst === "string" ? parseIpv4(dst) : dst;
    if (addr === null) {
      return Promise.reject(new TypeError(`ping: "${dst}" is not an IPv4 address`));
    }
    return this.#pinger.ping(addr >>> 0, options);
  }

  /** The handler the device loop calls (exposed for wrappers that drive the stack themselves). */
  get frameHandler(): (buf: Uint8Array, off: number, len: number) => void {
    return this.#onFrame;
  }

  /** A JSON-able picture for the control channel. */
  snapshot(): StackSnapshot {
    return {
      name: this.device.name,
      mac: formatMac(this.device.mac),
      mtu: this.device.mtu,
      addresses: this.addresses().map(formatIpv4),
      cidr: `${formatIpv4(this.address)}/${this.prefix}`,
      arp: this.arp.entries().map((e) => ({
        ip: formatIpv4(e.ip),
        mac: e.mac === null ? null : formatMac(e.mac),
        state: e.state,
        ageMs: Math.round(e.ageMs),
        permanent: e.permanent,
      })),
      routes: this.routes.entries().map((r) => ({
        destination: formatIpv4(r.destination),
        gateway: formatIpv4(r.gateway),
        genmask: formatIpv4(r.mask),
        flags: r.flags,
        metric: r.metric,
        use: r.use,
        iface: r.iface,
      })),
      counters: this.counters.snapshot(),
      device: { ...this.device.stats },
      tcp: this.tcp.snapshot(),
      tcpUsage: this.tcp.usage(),
      ...(this.ipv6 === null ? {} : {
        ipv6: this.ipv6.addresses.map((a) => ({
          address: formatIpv6(a.address),
          prefix: a.prefix,
          state: a.dad ?? "preferred",
        })),
        neigh6: this.ipv6.neighborRows(),
        routes6: this.ipv6.routeRows(),
      }),
    };
  }

  /**
   * A frame with offload metadata: counts super-frames ("link.rx_gso") and notes whether its L4
   * checksum is to be trusted (not for a fragment: MF or an offset set).
   */
  #rxOffloaded(buf: Uint8Array, ipOff: number, rxo: FrameOffload): void {
    if (rxo.gsoType !== 0) this.counters.count("link.rx_gso");
    const fragment = ((buf[ipOff + 6] & 0x3f) | buf[ipOff + 7]) !== 0;
    this.#rxCsumTrusted = !fragment && (rxo.flags & (VNET_F_NEEDS_CSUM | VNET_F_DATA_VALID)) !== 0;
  }

  /**
   * One looped packet, delivered locally as a received one: checksums trusted (the packet never
   * left the host; loopback.ts), a super-frame's segment size in the receive metadata while it is
   * handled, the same containment of exceptions as a frame from the device.
   */
  #deliverLooped(buf: Uint8Array, ipLen: number, gsoSize: number): void {
    if (this.#closed) return;
    const clock = this.#frameClock;
    const rxo = this.#rxo;
    clock.beginFrame();
    try {
      this.counters.count("loopback.rx_packets");
      const v6 = buf[0] >> 4 === 6;
      if (rxo !== null) {
        clearOffload(rxo);
        if (gsoSize > 0) {
          rxo.gsoType = v6 ? VNET_GSO_TCPV6 : VNET_GSO_TCPV4;
          rxo.gsoSize = gsoSize;
        }
      }
      this.#rxCsumTrusted = true;
      if (v6) this.ipv6?.input(buf, 0, ipLen);
      else this.#in.deliver(buf, 0, ipLen);
    } catch (e) {
      this.#internalError(e);
    } finally {
      this.#rxCsumTrusted = false;
      if (rxo !== null) clearOffload(rxo);
      clock.endFrame();
    }
  }

  /** The last line of defence of the receive loop and the tick: count, log once, go on. */
  #internalError(e: unknown): void {
    this.counters.count("drop.internal_error");
    if (!this.#loggedInternalError) {
      this.#loggedInternalError = true;
      console.error("lb.ts stack: internal error (logged once):", e);
    }
  }

  #stopTimer(): void {
    if (this.#timer !== null) {
      clearInterval(this.#timer);
      this.#timer = null;
    }
  }
}

/** "2001:db8::2/64" as an address and prefix (RangeError naming the problem otherwise). */
function parseIpv6Cidr(text: string): Ipv6Address {
  const slash = text.indexOf("/");
  const prefix = slash < 0 ? 128 : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 128) {
    throw new RangeError(`ipv6: "${text}" has no prefix length in 1..128`);
  }
  return { address: parseIpv6Address(slash < 0 ? text : text.slice(0, slash), "ipv6"), prefix };
}

function parseIpv6Address(text: string, what: string): Uint8Array {
  const a = parseIpv6(text);
  if (a === null) throw new RangeError(`${what}: "${text}" is not an IPv6 address`);
  return a;
}
