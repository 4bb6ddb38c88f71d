/**
 * The balancer's packet path: a {@link PacketHook} on the stack between IPv4 input and local
 * delivery, where IPVS hooks LOCAL_IN (and, for NAT replies, FORWARD).
 *
 * For a client -> VIP:port packet of a configured service:
 * 1. find the flow in the connection table; a client's first SYN (SYN without ACK, RST or FIN)
 *    creates it with the real server the service's scheduler picks;
 * 2. a TCP packet that is not a SYN and has no flow is dropped and counted (`lb.drop_no_flow`):
 *    the balancer only schedules at the first SYN. The one exception is a service with the `mh`
 *    scheduler: Maglev's choice depends only on the client's address and port and the set of
 *    real servers, so every instance and every restart picks the same server. There the packet
 *    is forwarded to that choice and a flow entry is created (`lb.mh_resumed`), its TCP state
 *    taken from the packet's flags (an ACK in NONE gives ESTABLISHED, IPVS's sloppy rule), so
 *    established connections survive a balancer restart;
 * 3. the packet is forwarded by the flow's method: `dr` (Ethernet only), `nat` (destination
 *    rewrite), `tun` (IP-in-IP); the flow's TCP state follows the flags (IPVS's tables).
 *
 * Under a flood (lb/conntrack/table.ts): a full table evicts its oldest embryonic entry for a new
 * flow, and refuses one (`lb.drop_table_full`) only when every entry is established; an mh
 * service, whose choice needs no state, forwards an unknown non-SYN packet without an entry once
 * the table is under pressure (`lb.mh_stateless`), and a new flow the full table refuses too.
 * When no real server takes new flows, the client gets ICMP port unreachable from the VIP (rate
 * limited by the stack's ICMP token bucket) and the event log one line per change.
 *
 * ICMP errors about a balanced flow (lb/forward/icmp.ts) go to the end that sent the quoted
 * packet: the flow's real server (DR as is, NAT translated, TUN encapsulated), or for NAT the
 * client; so path MTU discovery works across the balancer.
 *
 * For NAT the stack's `forwarding` is turned on, so the real servers' replies (addressed to the
 * client, not to us) reach the hook: a reply that matches a NAT flow gets the VIP back as its
 * source and is routed to the client. Any other packet passes: to a VIP on a port without a
 * service it goes to local delivery (ICMP port unreachable, later a TCP RST), exactly as with
 * IPVS, and a packet for another host is dropped by the stack as before.
 *
 * What the balancer never does: answer a SYN for a service, originate a TCP segment toward a
 * client, or read payload bytes. Checksums are adjusted incrementally, not verified (as IPVS
 * does without an application helper): a corrupt segment stays corrupt and its receiver drops
 * it. The only packets it originates are ICMP fragmentation needed for TUN, ICMP port
 * unreachable when no real server is left, and ARP for its VIPs (for IPv6: Packet Too Big,
 * port unreachable, Time Exceeded for a NAT reply out of hops, Neighbor Advertisements).
 *
 * IPv6 services take the same steps behind the IPv6 host's hook ({@link Balancer.hook6}): the
 * addresses are read from the packet and compared in full (the service table's and connection
 * table's IPv6 indexes, lb/address.ts), forwarded by forward/nat6.ts, forward/tun6.ts or the
 * host's `sendPacketVia` (DR), and ICMPv6 errors relayed by forward/icmp6.ts.
 *
 * A malformed transport header to a VIP (truncated, bad TCP data offset, bad UDP length) is
 * dropped and counted (`lb.drop_malformed_*`); malformed IPv4 never gets here (the stack drops it).
 *
 * The packet path allocates nothing: the service table and the connection table are typed
 * arrays, counters are fields updated in place, headers are rewritten in the receive buffer (the
 * tunnel copies into a preallocated buffer). Expiry runs from the stack's periodic tick.
 *
 * Offloads (a TAP with `--offload`, stack/link/offload.ts): a frame may be a TCP super-frame
 * (up to 64 KB) and its TCP/UDP checksum partial. DR and NAT forward it whole, passing its
 * received metadata (`rxOffload`, unchanged) with the forwarded frame so the kernel segments and
 * checksums it (NAT rewrites the partial sum, forward/rewrite.ts); TUN cuts a super-frame into
 * segments itself and completes a partial checksum, since IP-in-IP has no offload type.
 *
 * @module
 */

import type { Rates } from "./rates.ts";
import { formatIpv4 } from "../stack/wire/address.ts";
import { formatIpv6 } from "../stack/wire/address6.ts";
import { readU16, readU32 } from "../stack/wire/bytes.ts";
import { IP_PROTO_ICMP, IP_PROTO_TCP, IP_PROTO_UDP } from "../stack/wire/ipv4.ts";
import type { HookVerdict, Ipv6PacketHook, PacketHook } from "../stack/net/hook.ts";
import { IPV6_NH_ICMPV6 } from "../stack/wire/ipv6.ts";
import { ICMPV6_CODE_PORT_UNREACHABLE, ICMPV6_DEST_UNREACHABLE } from "../stack/wire/icmpv6.ts";
import { fold128, formatAddress, formatAddressPort } from "./address.ts";
import { forwardNat6In, forwardNat6Out } from "./forward/nat6.ts";
import { Tunnel6Forwarder } from "./forward/tun6.ts";
import {
  icmp6ChecksumOk,
  type Icmp6Quote,
  newIcmp6Quote,
  parseIcmp6Quote,
  QUOTE6_NOT_RELAYED,
  translateIcmp6,
} from "./forward/icmp6.ts";
import type { FrameOffload } from "../stack/wire/virtio_net.ts";
import type { Stack } from "../stack/net/stack.ts";
import { ConnTable } from "./conntrack/table.ts";
import {
  ConnState,
  type ConnStateName,
  Direction,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from "./conntrack/tcp_states.ts";
import { forwardDirect } from "./forward/dr.ts";
import { forwardNatIn, forwardNatOut } from "./forward/nat.ts";
import { translateIcmpToClient, translateIcmpToReal } from "./forward/icmp.ts";
import {
  ICMP_SOURCE_QUENCH,
  type IcmpQuote,
  newIcmpQuote,
  parseIcmpQuote,
  QUOTE_NOT_RELAYED,
} from "../stack/wire/icmp_quote.ts";
import {
  TUN_BAD_OFFLOAD,
  TUN_FRAG_NEEDED,
  TUN_SENT,
  TUN_TOO_BIG,
  TunnelForwarder,
} from "./forward/tun.ts";
import { PersistenceTable } from "./persistence.ts";
import {
  type ForwardMethod,
  type Protocol,
  type RealServer,
  ServiceTable,
  type VirtualService,
} from "./service.ts";

/** Options of {@link Balancer}. */
export interface BalancerOptions {
  /** Most flows tracked at once (ipvsadm's table size; default 262144). New flows beyond it drop. */
  maxConns?: number;
  /** Per-state timeouts in milliseconds over IPVS's defaults (ipvsadm `--set`). */
  timeouts?: Partial<Record<ConnStateName, number>>;
  /** Connection-table hash seed (random by default). */
  seed?: number;
  /**
   * Lifetime (ms) of a flow entry made without the client's SYN until a second packet proves it,
   * and of every embryonic entry while the table is under pressure (default 5000).
   */
  embryonicTimeoutMs?: number;
  /** Receives state changes worth an operator's attention (the event log); none by default. */
  onEvent?: (event: string, message: string, fields: Record<string, unknown>) => void;
}

/** A real server as `lb.ts list` reports it. */
export interface RealSnapshot {
  address: string;
  port: number;
  weight: number;
  method: string;
  activeConns: number;
  inactiveConns: number;
  conns: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Health: false when a health check took the server out of scheduling. */
  available?: boolean;
  /** Smoothed rates (lb/rates.ts), when the instance estimates them. */
  rates?: Rates;
}

/** A virtual service as `lb.ts list` reports it. */
export interface ServiceSnapshot {
  protocol: string;
  vip: string;
  port: number;
  scheduler: string;
  /** Scheduler flags as ipvsadm prints them, e.g. "mh-port" (empty when none). */
  flags: string;
  /** Persistence timeout in seconds (ipvsadm `-p`); absent when off. */
  persistence?: number;
  conns: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  reals: RealSnapshot[];
  /** Smoothed rates (lb/rates.ts), when the instance estimates them. */
  rates?: Rates;
}

/** What `lb.ts list` gets over the control channel. */
export interface BalancerSnapshot {
  /** Connection-table bound (ipvsadm's "size"). */
  capacity: number;
  /** Flows in the table now. */
  connections: number;
  /** Of those, embryonic flows (no completed handshake or a single packet): evicted first. */
  embryonic: number;
  /** Connection-table events: inserted, refused (table full), expired, removed, replaced. */
  table: Record<string, number>;
  /** The balancer's drop and event counters ("lb.*" in the stack's counters). */
  counters: Record<string, number>;
  services: ServiceSnapshot[];
}

/** One flow as `lb.ts conns` gets it. */
export interface ConnSnapshot {
  protocol: string;
  state: string;
  expiresInMs: number;
  client: string;
  virtual: string;
  real: string;
  method: string;
}

/** What `lb.ts conns` gets over the control channel. */
export interface ConnsSnapshot {
  capacity: number;
  size: number;
  table: Record<string, number>;
  /** The flows, at most the requested limit of them. */
  entries: ConnSnapshot[];
  /** True when there were more flows than the limit. */
  truncated?: boolean;
}

/** Flows listed by default: about 10 MB of JSON, within the control client's answer bound. */
export const DEFAULT_CONNS_LIMIT = 100_000;

/** Counter names, built once (no string is built per packet). */
const C_NO_FLOW = "lb.drop_no_flow";
const C_NO_REAL = "lb.drop_no_real";
const C_UNREACHABLE = "lb.no_real_unreachable_sent";
const C_EVICTED = "lb.conn_evicted_embryonic";
const C_STATELESS = "lb.mh_stateless";
const C_ICMP_TO_REAL = "lb.icmp_to_real";
const C_ICMP_TO_CLIENT = "lb.icmp_to_client";
const C_ICMP_NO_FLOW = "lb.drop_icmp_no_flow";
const C_ICMP_IGNORED = "lb.icmp_ignored";
/** The balancer's counter for each reason stack/wire/icmp_quote.ts gives (no string per packet). */
const ICMP_DROPS: Readonly<Record<string, string>> = {
  icmp_truncated: "lb.drop_icmp_truncated",
  icmp_bad_quote: "lb.drop_icmp_bad_quote",
  icmp_bad_checksum: "lb.drop_icmp_bad_checksum",
};
const C_TABLE_FULL = "lb.drop_table_full";
const C_MH_RESUMED = "lb.mh_resumed";
const C_REUSED = "lb.conn_reused";
const C_TUN_FRAG = "lb.tun_frag_needed";
const C_TUN_TOO_BIG = "lb.drop_tun_too_big";
const C_BAD_OFFLOAD = "lb.drop_bad_offload";
const C_TX_FAILED = "lb.drop_tx_failed";
const C_L4_TRUNCATED = "lb.drop_malformed_l4_truncated";
const C_TCP_TRUNCATED = "lb.drop_malformed_tcp_truncated";
const C_TCP_BAD_OFFSET = "lb.drop_malformed_tcp_bad_offset";
const C_UDP_TRUNCATED = "lb.drop_malformed_udp_truncated";
const C_UDP_BAD_LENGTH = "lb.drop_malformed_udp_bad_length";
const C_HOP_LIMIT = "lb.drop_hop_limit_exceeded";

/** `#newFlow`: the packet was dropped (counted) or answered; nothing to forward. */
const NEW_FLOW_DROPPED = -2;
/** `#newFlow`: forward to the mh choice in `#stateless`, with no entry. */
const NEW_FLOW_STATELESS = -1;

/** IPVS `is_new_conn`, narrowed: SYN set, ACK, RST and FIN clear (the client's first SYN). */
const NEW_FLOW_MASK = TCP_SYN | TCP_ACK | TCP_RST | TCP_FIN;

/**
 * Why the transport header at `l4Off` (l4Len bytes) cannot be handled, as a counter name, or
 * null when it is well formed: TCP needs 20 bytes and a data offset of 5..15 words inside the
 * packet (RFC 9293 3.1), UDP 8 bytes and a length field of 8..l4Len (RFC 768).
 */
function malformed(buf: Uint8Array, l4Off: number, l4Len: number, protocol: number): string | null {
  if (protocol === IP_PROTO_TCP) {
    if (l4Len < 20) return C_TCP_TRUNCATED;
    const hl = (buf[l4Off + 12] >>> 4) << 2;
    if (hl < 20 || hl > l4Len) return C_TCP_BAD_OFFSET;
    return null;
  }
  if (l4Len < 8) return C_UDP_TRUNCATED;
  const len = readU16(buf, l4Off + 4);
  if (len < 8 || len > l4Len) return C_UDP_BAD_LENGTH;
  return null;
}

/** The L4 load balancer on one stack. */
export class Balancer {
  /** The stack it is attached to. */
  readonly stack: Stack;
  /** The virtual services, looked up per packet. */
  readonly services: ServiceTable = new ServiceTable();
  /** The connection table. */
  readonly conns: ConnTable;
  /** The packet hook (bound once); `attach()` installs it. */
  readonly hook: PacketHook;
  /** The IPv6 packet hook (bound once); `attach()` installs it when the stack has IPv6. */
  readonly hook6: Ipv6PacketHook;
  /** The quoted flow of the ICMPv6 error being handled (reused). */
  readonly #quote6: Icmp6Quote = newIcmp6Quote();
  /** The IPv6 packet being handled was reassembled from fragments (set per packet). */
  #reassembled6 = false;
  /** An IPv6 flow's VIP, copied out of the connection table for a NAT reply (reused). */
  readonly #vip6 = new Uint8Array(16);
  readonly #tun: TunnelForwarder;
  /** IPv6-in-IPv6 for IPv6 services: null when the stack has no IPv6. */
  readonly #tun6: Tunnel6Forwarder | null;
  /** The device's receive offload metadata (null without offloads). */
  readonly #rxo: FrameOffload | null;
  /** The metadata of the packet being handled, or null for a plain one (set per packet). */
  #off: FrameOffload | null = null;
  #untick: (() => void) | null = null;
  /** Persistence templates of the services that have them (ipvsadm `-p`). */
  readonly #persist: Map<VirtualService, PersistenceTable> = new Map();
  /** The real server of the packet `#newFlow` forwards with no entry (mh). */
  #stateless: RealServer | null = null;
  /** Services whose last scheduling found no real server (for one log line per change). */
  readonly #noRealServices: Set<VirtualService> = new Set();
  readonly #onEvent: BalancerOptions["onEvent"];
  /** The quoted flow of the ICMP error being handled (reused). */
  readonly #quote: IcmpQuote = newIcmpQuote();
  /** Counter slots of the hot counters (stack/net/counters.ts). */
  readonly #cMhResumed: number;
  readonly #cStateless: number;
  readonly #cEvicted: number;
  readonly #cUnreachable: number;

  /** A balancer for `stack` with no services; nothing happens before `attach()`. */
  constructor(stack: Stack, options: BalancerOptions = {}) {
    this.stack = stack;
    this.conns = new ConnTable({
      capacity: options.maxConns,
      clock: stack.clock,
      timeouts: options.timeouts,
      seed: options.seed,
      embryonicTimeoutMs: options.embryonicTimeoutMs,
    });
    this.#onEvent = options.onEvent;
    const c = stack.counters;
    this.#cMhResumed = c.slot(C_MH_RESUMED);
    this.#cStateless = c.slot(C_STATELESS);
    this.#cEvicted = c.slot(C_EVICTED);
    this.#cUnreachable = c.slot(C_UNREACHABLE);
    this.#tun = new TunnelForwarder(stack);
    this.#tun6 = stack.ipv6 === null ? null : new Tunnel6Forwarder(stack.ipv6, stack.mtu);
    this.#rxo = stack.device.rxOffload ?? null;
    this.hook = (buf, frameOff, ipOff, ipLen) => this.#onPacket(buf, frameOff, ipOff, ipLen);
    this.hook6 = (buf, frameOff, ipOff, len, protocol, upperOff) =>
      this.#onPacket6(buf, frameOff, ipOff, len, protocol, upperOff);
  }

  /**
   * Adds a virtual service: the stack takes its VIP as an owned address (ARP replies, a
   * gratuitous ARP when running, ping), and a service with NAT real servers turns the stack's
   * forwarding on. An IPv6 VIP is added to `stack.ipv6` (Neighbor Discovery answered) and its
   * NAT turns IPv6 forwarding on. Throws if the same (protocol, VIP, port) exists, and a
   * RangeError for an IPv6 service on a stack without IPv6.
   */
  addService(service: VirtualService): VirtualService {
    const v6 = service.vip6;
    if (v6 !== null && this.stack.ipv6 === null) {
      const name = describe(service);
      throw new RangeError(`service ${name}: the stack has no IPv6 address (--ip ADDR/PREFIX)`);
    }
    this.services.add(service);
    // An IPv6 VIP is an address the stack answers Neighbor Discovery for (RFC 4861 7.2).
    if (v6 !== null) this.stack.ipv6?.addAddress(v6, 128);
    else this.stack.addAddress(service.vip);
    this.#updateForwarding();
    for (const r of service.reals) this.#solicit(r.address);
    return service;
  }

  /**
   * Asks ARP for the next hop toward a real server as soon as it is configured (IPVS has no need:
   * the kernel's neighbour table is warm from other traffic). Otherwise the first burst of SYNs
   * after a start waits for the reply and overflows the ARP queue (seen: hundreds dropped when
   * 200,000 clients connect at once, each costing a 1 s SYN retransmission).
   */
  #solicit(address: number): void {
    if (address > 0xffffffff) return; // IPv6: the neighbor cache resolves at the first packet
    const hop = this.stack.routes.nextHop(address);
    if (hop !== null && !this.stack.hasAddress(hop)) this.stack.arp.solicit(hop);
  }

  /**
   * Removes a service (ipvsadm `-D`) with its flows and persistence; the VIP stops being owned
   * when no other service uses it. Returns the service, or null if there was none.
   */
  removeService(protocol: Protocol, vip: number, port: number): VirtualService | null {
    const s = this.services.remove(protocol, vip, port);
    if (s === null) return null;
    for (const r of s.reals) this.conns.removeByReal(r);
    this.#persist.delete(s);
    this.#noRealServices.delete(s);
    if (!this.services.hasVip(vip)) {
      if (s.vip6 !== null) this.stack.ipv6?.removeAddress(s.vip6);
      else this.stack.removeAddress(vip);
    }
    return s;
  }

  /**
   * Removes a real server (ipvsadm `-d`): its flows are removed too (IPVS with
   * expire_nodest_conn), and persistence entries that point at it. Returns it, or null.
   */
  removeReal(service: VirtualService, address: number, port = 0): RealServer | null {
    const r = service.removeReal(address, port);
    if (r === null) return null;
    this.conns.removeByReal(r);
    this.#persist.get(service)?.forget(r);
    return r;
  }

  /** Adds a real server to `service` (ipvsadm `-a`); NAT turns forwarding on. */
  addReal(service: VirtualService, real: Parameters<VirtualService["addReal"]>[0]): RealServer {
    const r = service.addReal(real);
    this.#updateForwarding();
    this.#solicit(r.address);
    return r;
  }

  /**
   * Sets `service`'s persistence timeout (ipvsadm `-p`) in milliseconds; 0 turns it off. A
   * changed timeout keeps the current entries (they expire on their old time).
   */
  setPersistence(service: VirtualService, timeoutMs: number): void {
    if (timeoutMs <= 0) {
      this.#persist.delete(service);
      return;
    }
    const p = this.#persist.get(service);
    if (p !== undefined) p.timeoutMs = timeoutMs;
    else this.#persist.set(service, new PersistenceTable(timeoutMs, this.stack.clock));
  }

  /** `service`'s persistence timeout in milliseconds (0 = none). */
  persistence(service: VirtualService): number {
    return this.#persist.get(service)?.timeoutMs ?? 0;
  }

  /** Installs the hook on the stack and the expiry sweep on its tick. */
  attach(): void {
    this.#updateForwarding();
    this.stack.hook = this.hook;
    if (this.stack.ipv6 !== null) this.stack.ipv6.hook = this.hook6;
    this.#untick ??= this.stack.onTick(() => {
      this.conns.expire();
      for (const p of this.#persist.values()) p.expire();
    });
  }

  /** Reports an event to the `onEvent` listener, if any (control path: allocation is fine). */
  #event(event: string, message: string, fields: Record<string, unknown>): void {
    this.#onEvent?.(event, message, fields);
  }

  /** Removes the hook and the sweep (the stack is a plain host again; VIPs stay owned). */
  detach(): void {
    if (this.stack.hook === this.hook) this.stack.hook = null;
    if (this.stack.ipv6 !== null && this.stack.ipv6.hook === this.hook6) {
      this.stack.ipv6.hook = null;
    }
    this.#untick?.();
    this.#untick = null;
  }

  /** NAT needs the real servers' replies, which are addressed to the client: forward. */
  #updateForwarding(): void {
    for (const s of this.services.list()) {
      if (!s.reals.some((r) => r.method === "nat")) continue;
      if (s.vip6 === null) this.stack.forwarding = true;
      else if (this.stack.ipv6 !== null) this.stack.ipv6.forwarding = true;
    }
  }

  // ---------------------------------------------------------------- packet path

  #onPacket(buf: Uint8Array, frameOff: number, ipOff: number, ipLen: number): HookVerdict {
    const protocol = buf[ipOff + 9];
    if (protocol !== IP_PROTO_TCP && protocol !== IP_PROTO_UDP) {
      return protocol === IP_PROTO_ICMP ? this.#icmp(buf, ipOff, ipLen) : "pass";
    }
    // The metadata belongs to the frame: none for a reassembled or decapsulated packet.
    const rxo = this.#rxo;
    this.#off = rxo !== null && frameOff >= 0 && (rxo.flags | rxo.gsoType) !== 0 ? rxo : null;
    const hl = (buf[ipOff] & 0x0f) << 2;
    const l4Off = ipOff + hl;
    const l4Len = ipLen - hl;
    const dst = readU32(buf, ipOff + 16);
    if (l4Len < 4) {
      // Not even the ports: ours to count only when it is aimed at a VIP.
      if (!this.services.hasVip(dst)) return "pass";
      this.stack.counters.count(C_L4_TRUNCATED);
      return "consumed";
    }
    const dport = readU16(buf, l4Off + 2);
    const service = this.services.lookup(protocol === IP_PROTO_TCP ? "tcp" : "udp", dst, dport);
    if (service !== null) {
      return this.#inbound(service, buf, ipOff, ipLen, l4Off, l4Len, protocol, dst, dport);
    }
    if (this.stack.forwarding) return this.#natReply(buf, ipOff, ipLen, l4Off, l4Len, protocol);
    return "pass";
  }

  /** Client -> VIP:port of `service`. */
  #inbound(
    service: VirtualService,
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    l4Off: number,
    l4Len: number,
    protocol: number,
    vip: number,
    vport: number,
  ): HookVerdict {
    const counters = this.stack.counters;
    const bad = malformed(buf, l4Off, l4Len, protocol);
    if (bad !== null) {
      counters.count(bad);
      return "consumed";
    }
    const conns = this.conns;
    const clientIp = readU32(buf, ipOff + 12);
    const clientPort = readU16(buf, l4Off);
    const tcp = protocol === IP_PROTO_TCP;
    const flags = tcp ? buf[l4Off + 13] : 0;
    const isNew = tcp && (flags & NEW_FLOW_MASK) === TCP_SYN;
    let slot = conns.lookupIn(protocol, clientIp, clientPort, vip, vport);
    if (slot >= 0 && isNew && this.#reusable(slot)) {
      // IPVS conn_reuse_mode: a new SYN on a finished flow (the client reused its port) is a
      // new connection and is scheduled again.
      conns.remove(slot);
      slot = -1;
      counters.count(C_REUSED);
    }
    let real: RealServer;
    let method: ForwardMethod;
    if (slot < 0) {
      slot = this.#newFlow(
        service,
        buf,
        ipOff,
        ipLen,
        protocol,
        isNew,
        clientIp,
        clientPort,
        vip,
        vport,
        false,
      );
      if (slot === NEW_FLOW_DROPPED) return "consumed";
    }
    if (slot >= 0) {
      conns.track(slot, Direction.INPUT, flags);
      real = conns.real(slot);
      method = conns.method(slot);
    } else {
      real = this.#stateless as RealServer; // mh: the Maglev choice, without an entry
      method = real.method;
    }
    const realIp = real.address;
    const off = this.#off;
    let sent: boolean;
    // DR and NAT keep the Ethernet header's 14 bytes, so the received metadata's csum_start and
    // hdr_len still point at the same bytes: it goes with the forwarded frame as it is.
    if (method === "dr") {
      sent = forwardDirect(this.stack, buf, ipOff, ipLen, realIp, off);
    } else if (method === "nat") {
      sent = forwardNatIn(
        this.stack,
        buf,
        ipOff,
        ipLen,
        l4Off,
        protocol,
        realIp,
        slot >= 0 ? conns.realPort(slot) : service.realPort(real),
        off,
      );
    } else {
      const r = this.#tun.forward(buf, ipOff, ipLen, realIp, off);
      if (this.#tunRefused(r)) return "consumed";
      sent = r === TUN_SENT;
    }
    return this.#forwarded(service, real, ipLen, sent);
  }

  /** Counts a tunnel's refusal (fragmentation needed, too big, bad offload); true if it was one. */
  #tunRefused(r: number): boolean {
    if (r !== TUN_FRAG_NEEDED && r !== TUN_TOO_BIG && r !== TUN_BAD_OFFLOAD) return false;
    this.stack.counters.count(
      r === TUN_FRAG_NEEDED ? C_TUN_FRAG : r === TUN_TOO_BIG ? C_TUN_TOO_BIG : C_BAD_OFFLOAD,
    );
    return true;
  }

  /** A packet of `len` bytes went to `real` (or could not: `sent` false, counted); consumed. */
  #forwarded(service: VirtualService, real: RealServer, len: number, sent: boolean): HookVerdict {
    if (!sent) {
      this.stack.counters.count(C_TX_FAILED);
      return "consumed";
    }
    service.packetsIn++;
    service.bytesIn += len;
    real.packetsIn++;
    real.bytesIn += len;
    return "consumed";
  }

  /**
   * A packet of a flow the table does not know (`#inbound`'s miss path, kept apart so the hit path
   * stays small): schedules it and returns its new entry's slot; NEW_FLOW_STATELESS when an mh
   * service forwards it to `#stateless` with no entry (under pressure, or a full table);
   * NEW_FLOW_DROPPED when it was dropped (and counted, or answered with ICMP). `v6`: an IPv6
   * packet, whose addresses the table reads from it (`clientIp` is then the client's 128-bit
   * fold, what the schedulers and persistence hash).
   */
  #newFlow(
    service: VirtualService,
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    protocol: number,
    isNew: boolean,
    clientIp: number,
    clientPort: number,
    vip: number,
    vport: number,
    v6: boolean,
  ): number {
    const counters = this.stack.counters;
    const conns = this.conns;
    const mh = service.scheduler.name === "mh";
    const tcp = protocol === IP_PROTO_TCP;
    if (tcp && !isNew) {
      // Only a client's first SYN starts a flow, except with mh (see the module comment).
      if (!mh) {
        counters.count(C_NO_FLOW);
        return NEW_FLOW_DROPPED;
      }
      counters.add(this.#cMhResumed);
    }
    const real = this.#schedule(service, clientIp, clientPort);
    if (real === null) {
      this.#noReal(service, buf, ipOff, ipLen, v6);
      return NEW_FLOW_DROPPED;
    }
    // mh under pressure: a non-SYN packet of an unknown flow goes to the Maglev choice with no
    // entry (the choice needs none), so a flood of random ACKs costs the table nothing.
    if (!(mh && tcp && !isNew && conns.underPressure)) {
      const evicted = conns.counters.evicted;
      const slot = v6
        ? conns.insert6(
          protocol,
          buf,
          ipOff + 8,
          ipOff + 24,
          clientPort,
          vport,
          real,
          service.realPort(real),
          real.method,
        )
        : conns.insert(
          protocol,
          clientIp,
          clientPort,
          vip,
          vport,
          real,
          service.realPort(real),
          real.method,
        );
      if (conns.counters.evicted !== evicted) counters.add(this.#cEvicted);
      if (slot >= 0) {
        service.conns++;
        real.conns++;
        return slot;
      }
      if (!mh) {
        counters.count(C_TABLE_FULL);
        return NEW_FLOW_DROPPED;
      }
    }
    counters.add(this.#cStateless);
    this.#stateless = real;
    return NEW_FLOW_STATELESS;
  }

  /**
   * No real server takes new flows (all at weight 0, down or none): like IPVS, answer ICMP port
   * unreachable (RFC 792 type 3 code 3) so the client fails at once instead of waiting out its
   * SYN retries; the stack's ICMP token bucket limits the rate. The event log hears of it once
   * per change of the service's state, not per packet.
   */
  #noReal(
    service: VirtualService,
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    v6: boolean,
  ): void {
    const counters = this.stack.counters;
    counters.count(C_NO_REAL);
    // IPv6: Destination Unreachable, port unreachable (RFC 4443 3.1 code 4), rate limited too.
    const sent = v6
      ? this.stack.ipv6?.sendError(
        ICMPV6_DEST_UNREACHABLE,
        ICMPV6_CODE_PORT_UNREACHABLE,
        0,
        buf,
        ipOff,
        ipLen,
      ) === true
      : this.stack.sendIcmpError(3, 3, 0, buf, ipOff, ipLen);
    if (sent) counters.add(this.#cUnreachable);
    if (!this.#noRealServices.has(service)) {
      this.#noRealServices.add(service);
      this.#event("no_real_server", `${describe(service)}: no real server available`, {
        service: describe(service),
      });
    }
  }

  /**
   * The scheduler's pick, or with persistence the server this client was pinned to while it
   * still takes new flows (IPVS persistence templates; a drained or failed server is not
   * reused, so drain and health checks keep working).
   */
  #schedule(service: VirtualService, clientIp: number, clientPort: number): RealServer | null {
    const persist = this.#persist.size === 0 ? undefined : this.#persist.get(service);
    let real: RealServer | null;
    if (persist === undefined) real = service.scheduler.pick(clientIp, clientPort);
    else {
      real = persist.lookup(clientIp);
      if (real === null || !real.takesNewFlows()) {
        real = service.scheduler.pick(clientIp, clientPort);
      }
      if (real !== null) persist.remember(clientIp, real);
    }
    if (real !== null && this.#noRealServices.size !== 0 && this.#noRealServices.delete(service)) {
      this.#event("real_server_available", `${describe(service)}: real servers available again`, {
        service: describe(service),
      });
    }
    return real;
  }

  /**
   * IPVS `is_new_conn_expected` with conn_reuse_mode 3: a flow in TIME_WAIT or CLOSE, or a DR/TUN
   * flow in FIN_WAIT (the INPUT-ONLY table's last state: the client's FIN was seen, the server's
   * never is), is over; a new SYN on it starts a new connection.
   */
  #reusable(slot: number): boolean {
    const s = this.conns.state(slot);
    return s === ConnState.TIME_WAIT || s === ConnState.CLOSE ||
      (s === ConnState.FIN_WAIT && this.conns.method(slot) !== "nat");
  }

  /** A packet for another host (forwarding on): a NAT real server's reply, or not ours. */
  #natReply(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    l4Off: number,
    l4Len: number,
    protocol: number,
  ): HookVerdict {
    if (malformed(buf, l4Off, l4Len, protocol) !== null) return "pass";
    const conns = this.conns;
    const slot = conns.lookupOut(
      protocol,
      readU32(buf, ipOff + 12),
      readU16(buf, l4Off),
      readU32(buf, ipOff + 16),
      readU16(buf, l4Off + 2),
    );
    if (slot < 0 || conns.method(slot) !== "nat") return "pass";
    const flags = protocol === IP_PROTO_TCP ? buf[l4Off + 13] : 0;
    conns.track(slot, Direction.OUTPUT, flags);
    const vip = conns.vip(slot);
    const vport = conns.vport(slot);
    const real = conns.real(slot);
    const sent = forwardNatOut(
      this.stack,
      buf,
      ipOff,
      ipLen,
      l4Off,
      protocol,
      vip,
      vport,
      this.#off,
    );
    if (!sent) {
      this.stack.counters.count(C_TX_FAILED);
      return "consumed";
    }
    real.packetsOut++;
    real.bytesOut += ipLen;
    const service = this.services.lookup(protocol === IP_PROTO_TCP ? "tcp" : "udp", vip, vport);
    if (service !== null) {
      service.packetsOut++;
      service.bytesOut += ipLen;
    }
    return "consumed";
  }

  /**
   * An ICMP error about a balanced flow goes to the end of the flow that sent the quoted packet
   * (lb/forward/icmp.ts): to the real server when it quotes VIP:vport -> client (by the flow's
   * method; an mh service without an entry uses the Maglev choice), to the client when a NAT
   * real server's error quotes client -> real. Source quench is ignored (RFC 6633); an error
   * about a service's flow that the table does not know is dropped and counted. Everything else
   * (echo, errors about the stack's own traffic) passes to the stack.
   */
  #icmp(buf: Uint8Array, ipOff: number, ipLen: number): HookVerdict {
    const q = this.#quote;
    const counters = this.stack.counters;
    const dst = readU32(buf, ipOff + 16);
    const toVip = this.services.hasVip(dst);
    if (!toVip && !this.stack.forwarding) return "pass";
    const bad = parseIcmpQuote(buf, ipOff, ipLen, q);
    if (bad === QUOTE_NOT_RELAYED) return "pass";
    if (bad !== null) {
      if (!toVip) return "pass";
      counters.count(ICMP_DROPS[bad] ?? "lb.drop_icmp_malformed");
      return "consumed";
    }
    const proto = q.protocol === IP_PROTO_TCP ? "tcp" : "udp";
    const conns = this.conns;
    if (toVip) {
      // About VIP:vport -> client: the real server sent it.
      const service = this.services.lookup(proto, q.src, q.sport);
      if (service === null) return "pass"; // about the stack's own traffic from the VIP
      if (q.type === ICMP_SOURCE_QUENCH) {
        counters.count(C_ICMP_IGNORED);
        return "consumed";
      }
      const slot = conns.lookupIn(q.protocol, q.dst, q.dport, q.src, q.sport);
      let real: RealServer | null;
      let method: ForwardMethod;
      let realPort: number;
      if (slot >= 0) {
        real = conns.real(slot);
        method = conns.method(slot);
        realPort = conns.realPort(slot);
      } else if (service.scheduler.name === "mh") {
        real = service.scheduler.pick(q.dst, q.dport);
        if (real === null) {
          counters.count(C_ICMP_NO_FLOW);
          return "consumed";
        }
        method = real.method;
        realPort = service.realPort(real);
      } else {
        counters.count(C_ICMP_NO_FLOW);
        return "consumed";
      }
      let sent: boolean;
      if (method === "dr") sent = forwardDirect(this.stack, buf, ipOff, ipLen, real.address);
      else if (method === "nat") {
        translateIcmpToReal(buf, ipOff, ipLen, q, real.address, realPort);
        sent = this.stack.sendIpv4(buf, ipOff, ipLen);
      } else sent = this.#tun.forward(buf, ipOff, ipLen, real.address) === TUN_SENT;
      counters.count(sent ? C_ICMP_TO_REAL : C_TX_FAILED);
      return "consumed";
    }
    // Passing through (forwarding on): a NAT real server's error about client -> real:rport.
    const slot = conns.lookupOut(q.protocol, q.dst, q.dport, q.src, q.sport);
    if (slot < 0 || conns.method(slot) !== "nat") return "pass";
    if (q.type === ICMP_SOURCE_QUENCH) {
      counters.count(C_ICMP_IGNORED);
      return "consumed";
    }
    translateIcmpToClient(buf, ipOff, ipLen, q, conns.vip(slot), conns.vport(slot));
    counters.count(this.stack.sendIpv4(buf, ipOff, ipLen) ? C_ICMP_TO_CLIENT : C_TX_FAILED);
    return "consumed";
  }

  // ---------------------------------------------------------------- IPv6 packet path

  /**
   * The IPv6 hook: the same steps as {@link #onPacket} for a packet whose extension headers the
   * host has walked (`l4Off` is the upper-layer header, `protocol` its next header value).
   */
  #onPacket6(
    buf: Uint8Array,
    frameOff: number,
    ipOff: number,
    len: number,
    protocol: number,
    l4Off: number,
  ): HookVerdict {
    if (protocol !== IP_PROTO_TCP && protocol !== IP_PROTO_UDP) {
      return protocol === IPV6_NH_ICMPV6 ? this.#icmp6(buf, ipOff, len, l4Off) : "pass";
    }
    const rxo = this.#rxo;
    this.#off = rxo !== null && frameOff >= 0 && (rxo.flags | rxo.gsoType) !== 0 ? rxo : null;
    this.#reassembled6 = frameOff < 0;
    const l4Len = ipOff + len - l4Off;
    if (l4Len < 4) {
      if (!this.services.hasVip6(buf, ipOff + 24)) return "pass";
      this.stack.counters.count(C_L4_TRUNCATED);
      return "consumed";
    }
    const dport = readU16(buf, l4Off + 2);
    const proto = protocol === IP_PROTO_TCP ? "tcp" : "udp";
    const service = this.services.lookup6(proto, buf, ipOff + 24, dport);
    if (service !== null) {
      return this.#inbound6(service, buf, ipOff, len, l4Off, l4Len, protocol, dport);
    }
    if (this.stack.ipv6?.forwarding === true) {
      return this.#natReply6(buf, ipOff, len, l4Off, l4Len, protocol);
    }
    return "pass";
  }

  /** Client -> [VIP]:port of an IPv6 `service` (see {@link #inbound}). */
  #inbound6(
    service: VirtualService,
    buf: Uint8Array,
    ipOff: number,
    len: number,
    l4Off: number,
    l4Len: number,
    protocol: number,
    vport: number,
  ): HookVerdict {
    const counters = this.stack.counters;
    const ip6 = this.stack.ipv6;
    if (ip6 === null) return "pass";
    const bad = malformed(buf, l4Off, l4Len, protocol);
    if (bad !== null) {
      counters.count(bad);
      return "consumed";
    }
    const conns = this.conns;
    const clientPort = readU16(buf, l4Off);
    const tcp = protocol === IP_PROTO_TCP;
    const flags = tcp ? buf[l4Off + 13] : 0;
    const isNew = tcp && (flags & NEW_FLOW_MASK) === TCP_SYN;
    let slot = conns.lookupIn6(protocol, buf, ipOff + 8, ipOff + 24, clientPort, vport);
    if (slot >= 0 && isNew && this.#reusable(slot)) {
      conns.remove(slot);
      slot = -1;
      counters.count(C_REUSED);
    }
    if (slot < 0) {
      slot = this.#newFlow(
        service,
        buf,
        ipOff,
        len,
        protocol,
        isNew,
        fold128(0, buf, ipOff + 8),
        clientPort,
        service.vip,
        vport,
        true,
      );
      if (slot === NEW_FLOW_DROPPED) return "consumed";
    }
    let real: RealServer;
    let method: ForwardMethod;
    if (slot >= 0) {
      conns.track(slot, Direction.INPUT, flags);
      real = conns.real(slot);
      method = conns.method(slot);
    } else {
      real = this.#stateless as RealServer;
      method = real.method;
    }
    const addr = real.address6 as Uint8Array;
    const off = this.#off;
    let sent: boolean;
    if (method === "dr") sent = ip6.sendPacketVia(buf, ipOff, len, addr, 0, off);
    else if (method === "nat") {
      const rport = slot >= 0 ? conns.realPort(slot) : service.realPort(real);
      sent = forwardNat6In(ip6, buf, ipOff, len, l4Off, protocol, addr, rport, off);
    } else {
      const tun6 = this.#tun6 as Tunnel6Forwarder;
      const r = tun6.forward(buf, ipOff, len, addr, off, this.#reassembled6, l4Off);
      if (this.#tunRefused(r)) return "consumed";
      sent = r === TUN_SENT;
    }
    // Waiting for neighbor resolution is not a failure: the packet goes out when it resolves.
    return this.#forwarded(service, real, len, sent || ip6.sendQueued);
  }

  /** A packet for another host (IPv6 forwarding on): a NAT real server's reply, or not ours. */
  #natReply6(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    l4Off: number,
    l4Len: number,
    protocol: number,
  ): HookVerdict {
    if (malformed(buf, l4Off, l4Len, protocol) !== null) return "pass";
    const conns = this.conns;
    const slot = conns.lookupOut6(
      protocol,
      buf,
      ipOff + 8,
      ipOff + 24,
      readU16(buf, l4Off),
      readU16(buf, l4Off + 2),
    );
    if (slot < 0 || conns.method(slot) !== "nat") return "pass";
    const ip6 = this.stack.ipv6 as NonNullable<Stack["ipv6"]>;
    if (buf[ipOff + 7] <= 1) {
      // A router does not forward it (RFC 8200 3) and says so (RFC 4443 3.3, code 0).
      this.stack.counters.count(C_HOP_LIMIT);
      ip6.sendError(3, 0, 0, buf, ipOff, len);
      return "consumed";
    }
    const flags = protocol === IP_PROTO_TCP ? buf[l4Off + 13] : 0;
    conns.track(slot, Direction.OUTPUT, flags);
    const vip = this.#vip6;
    conns.copyVip6(slot, vip, 0);
    const vport = conns.vport(slot);
    const real = conns.real(slot);
    const sent = forwardNat6Out(ip6, buf, ipOff, len, l4Off, protocol, vip, vport, this.#off);
    if (!sent && !ip6.sendQueued) {
      this.stack.counters.count(C_TX_FAILED);
      return "consumed";
    }
    real.packetsOut++;
    real.bytesOut += len;
    const service = this.services.lookup6(
      protocol === IP_PROTO_TCP ? "tcp" : "udp",
      vip,
      0,
      vport,
    );
    if (service !== null) {
      service.packetsOut++;
      service.bytesOut += len;
    }
    return "consumed";
  }

  /** ICMPv6 errors about balanced IPv6 flows (lb/forward/icmp6.ts), by {@link #icmp}'s rules. */
  #icmp6(buf: Uint8Array, ipOff: number, len: number, icmpOff: number): HookVerdict {
    const ip6 = this.stack.ipv6;
    if (ip6 === null) return "pass";
    const q = this.#quote6;
    const counters = this.stack.counters;
    const end = ipOff + len;
    const toVip = this.services.hasVip6(buf, ipOff + 24);
    if (!toVip && !ip6.forwarding) return "pass";
    const bad = parseIcmp6Quote(buf, icmpOff, end, q);
    if (bad === QUOTE6_NOT_RELAYED) return "pass";
    if (bad !== null) {
      if (!toVip) return "pass";
      counters.count(ICMP_DROPS[bad] ?? "lb.drop_icmp_malformed");
      return "consumed";
    }
    const proto = q.protocol === IP_PROTO_TCP ? "tcp" : "udp";
    const conns = this.conns;
    const qSrc = q.ipOff + 8;
    const qDst = q.ipOff + 24;
    if (toVip) {
      // About [VIP]:vport -> client: the real server sent it.
      const service = this.services.lookup6(proto, buf, qSrc, q.sport);
      if (service === null) return "pass";
      const slot = conns.lookupIn6(q.protocol, buf, qDst, qSrc, q.dport, q.sport);
      let real: RealServer | null;
      let method: ForwardMethod;
      let realPort: number;
      if (slot >= 0) {
        real = conns.real(slot);
        method = conns.method(slot);
        realPort = conns.realPort(slot);
      } else if (service.scheduler.name === "mh") {
        real = service.scheduler.pick(fold128(0, buf, qDst), q.dport);
        if (real === null) {
          counters.count(C_ICMP_NO_FLOW);
          return "consumed";
        }
        method = real.method;
        realPort = service.realPort(real);
      } else {
        counters.count(C_ICMP_NO_FLOW);
        return "consumed";
      }
      const addr = real.address6 as Uint8Array;
      let sent: boolean;
      if (method === "dr") sent = ip6.sendPacketVia(buf, ipOff, len, addr, 0);
      else if (method === "nat") {
        if (!icmp6ChecksumOk(buf, ipOff, icmpOff, end)) {
          counters.count(ICMP_DROPS.icmp_bad_checksum);
          return "consumed";
        }
        translateIcmp6(buf, ipOff, icmpOff, end, q, 24, 8, 0, addr, realPort);
        sent = ip6.sendPacket(buf, ipOff, len);
      } else {
        const tun6 = this.#tun6 as Tunnel6Forwarder;
        sent = tun6.forward(buf, ipOff, len, addr, null) === TUN_SENT;
      }
      counters.count(sent || ip6.sendQueued ? C_ICMP_TO_REAL : C_TX_FAILED);
      return "consumed";
    }
    // Passing through (forwarding on): a NAT real server's error about client -> real:rport.
    const slot = conns.lookupOut6(q.protocol, buf, qDst, qSrc, q.dport, q.sport);
    if (slot < 0 || conns.method(slot) !== "nat") return "pass";
    if (!icmp6ChecksumOk(buf, ipOff, icmpOff, end)) {
      counters.count(ICMP_DROPS.icmp_bad_checksum);
      return "consumed";
    }
    if (buf[ipOff + 7] <= 1) {
      counters.count(C_HOP_LIMIT);
      return "consumed";
    }
    const vip = this.#vip6;
    conns.copyVip6(slot, vip, 0);
    translateIcmp6(buf, ipOff, icmpOff, end, q, 8, 24, 2, vip, conns.vport(slot));
    buf[ipOff + 7]--;
    const sent = ip6.sendPacket(buf, ipOff, len);
    counters.count(sent || ip6.sendQueued ? C_ICMP_TO_CLIENT : C_TX_FAILED);
    return "consumed";
  }

  // ---------------------------------------------------------------- control path

  /** Services, real servers and counters for `lb.ts list` (allocates; control path only). */
  snapshot(): BalancerSnapshot {
    const counters: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.stack.counters.snapshot())) {
      if (k.startsWith("lb.")) counters[k] = v;
    }
    return {
      capacity: this.conns.capacity,
      connections: this.conns.size,
      embryonic: this.conns.embryonicCount,
      table: { ...this.conns.counters },
      counters,
      services: this.services.list().map((s) => ({
        protocol: s.protocol,
        vip: formatAddress(s.vip),
        port: s.port,
        scheduler: s.scheduler.name,
        flags: schedulerFlags(s),
        ...(this.persistence(s) > 0 ? { persistence: Math.round(this.persistence(s) / 1000) } : {}),
        conns: s.conns,
        packetsIn: s.packetsIn,
        packetsOut: s.packetsOut,
        bytesIn: s.bytesIn,
        bytesOut: s.bytesOut,
        reals: s.reals.map((r) => ({
          address: formatAddress(r.address),
          port: s.realPort(r),
          weight: r.weight,
          method: r.method,
          activeConns: r.activeConns,
          inactiveConns: r.inactiveConns,
          conns: r.conns,
          packetsIn: r.packetsIn,
          packetsOut: r.packetsOut,
          bytesIn: r.bytesIn,
          bytesOut: r.bytesOut,
          available: r.available,
        })),
      })),
    };
  }

  /** The live flows for `lb.ts conns`, at most `limit` (allocates; control path only). */
  connections(limit: number = DEFAULT_CONNS_LIMIT): ConnsSnapshot {
    const entries: ConnSnapshot[] = [];
    let truncated = false;
    for (const c of this.conns.entries()) {
      if (entries.length >= limit) {
        truncated = true;
        break;
      }
      entries.push({
        protocol: c.protocol,
        state: c.state,
        expiresInMs: Math.round(c.expiresInMs),
        client: c.client6 === undefined
          ? `${formatIpv4(c.clientIp)}:${c.clientPort}`
          : `[${formatIpv6(c.client6)}]:${c.clientPort}`,
        virtual: c.vip6 === undefined
          ? `${formatIpv4(c.vip)}:${c.vport}`
          : `[${formatIpv6(c.vip6)}]:${c.vport}`,
        real: formatAddressPort(c.real.address, c.realPort),
        method: c.method,
      });
    }
    return {
      capacity: this.conns.capacity,
      size: this.conns.size,
      table: { ...this.conns.counters },
      entries,
      truncated,
    };
  }
}

/** A service as the event log names it, e.g. "TCP 10.0.0.100:80". */
function describe(s: VirtualService): string {
  return `${s.protocol.toUpperCase()} ${formatAddressPort(s.vip, s.port)}`;
}

/** ipvsadm's scheduler flags for a service: mh and sh hash the port / fall back here. */
function schedulerFlags(s: VirtualService): string {
  const sched = s.scheduler as { name: string; usePort?: boolean };
  if (sched.name === "mh") return sched.usePort ? "mh-port" : "";
  if (sched.name === "sh") return "sh-fallback";
  return "";
}
