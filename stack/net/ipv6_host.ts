/**
 * The host side of IPv6 (RFC 8200, RFC 4443, RFC 4861): what a node does with the IPv6 packets
 * addressed to it. This first part of the stack's IPv6 answers Neighbor Solicitations for its
 * addresses and keeps the neighbor cache (ndp.ts) from solicitations and advertisements, answers
 * echo requests, and sends through the cache; TCP and UDP over IPv6 are not here yet (such
 * packets are counted and dropped). Static addresses: the configured ones plus the link-local
 * address made from the MAC (RFC 4862 5.3, RFC 4291 appendix A); no router discovery, no SLAAC.
 * Duplicate address detection (RFC 4862 5.4) runs when the host starts: each address stays
 * tentative (not answered for, not used as a source) until one solicitation from :: has gone
 * unanswered for RetransTimer; an advertisement for it, or another node's DAD solicitation for
 * it, marks it duplicate and it is not used (counted, `nd.dad_duplicate`). `nodad` skips it, as
 * Linux's address flag does.
 *
 * The ICMPv6 path allocates a frame per packet it sends: it is not a fast path.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { formatMac } from "../wire/address.ts";
import type { Device } from "../link/device.ts";
import {
  formatIpv6,
  isIpv6Multicast,
  isIpv6Unspecified,
  multicastMac,
  solicitedNode,
} from "../wire/address6.ts";
import { ETH_HEADER_LEN, ETH_TYPE_IPV6, writeEthernetHeader } from "../wire/ethernet.ts";
import {
  fillIcmpv6Checksum,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_HEADER_LEN,
  icmpv6Checksum,
  NA_OVERRIDE,
  NA_ROUTER,
  NA_SOLICITED,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  NeighborMessage,
  parseNeighborMessage,
  writeNeighborMessage,
} from "../wire/icmpv6.ts";
import {
  IPV6_HEADER_LEN,
  IPV6_NH_ICMPV6,
  Ipv6Chain,
  Ipv6View,
  walkExtensionHeaders,
  writeIpv6Header,
} from "../wire/ipv6.ts";
import type { Counters } from "./counters.ts";
import { type Neighbor, NeighborCache, RETRANS_TIMER_MS } from "./ndp.ts";

/** One address of the host with its prefix length. */
export interface Ipv6Address {
  /** 16 bytes. */
  address: Uint8Array;
  /** On-link prefix length (the connected route). */
  prefix: number;
  /**
   * Duplicate address detection (RFC 4862 5.4): "tentative" until it finished, "preferred" (in
   * use), or "duplicate" (another node has it: never used). Set by the host.
   */
  dad?: "tentative" | "preferred" | "duplicate";
  /** When a tentative address becomes preferred, ms. */
  dadAt?: number;
}

/** One IPv6 neighbor as `ip -6 neigh` shows it (the MAC "" while INCOMPLETE). */
export interface Ipv6NeighborRow {
  /** The neighbor's address, canonical text. */
  address: string;
  /** Its MAC, "" while INCOMPLETE. */
  mac: string;
  /** INCOMPLETE, REACHABLE, STALE, DELAY or PROBE. */
  state: string;
  /** It said it is a router (an NA's R flag). */
  router: boolean;
}

/** One IPv6 route as `route -n -A inet6` shows it. */
export interface Ipv6RouteRow {
  /** "2001:db8::/64", "::/0". */
  destination: string;
  /** "::" for a connected route. */
  nextHop: string;
  /** "U", "UG". */
  flags: string;
  /** 256 connected, 1024 the default route (Linux's). */
  metric: number;
}

/** One answered IPv6 ping. */
export interface Ping6Reply {
  /** The reply's source address (canonical text). */
  from: string;
  /** ICMPv6 bytes received (header and data), as ping prints "64 bytes from". */
  bytes: number;
  /** The reply's hop limit (printed as ping's ttl). */
  ttl: number;
  /** Its sequence number. */
  seq: number;
  /** Round trip, ms on the stack's clock. */
  rttMs: number;
}

/** Options of {@link Ipv6Host.ping}, like ping -6's. */
export interface Ping6Options {
  /** Data bytes after the 8-byte ICMPv6 header (`-s`), default 56. */
  size?: number;
  /** Identifier, default 0x6c62. */
  id?: number;
  /** Sequence number, default 1. */
  seq?: number;
  /** Hop limit (`-t`), default 64. */
  hopLimit?: number;
  /** How long to wait, ms of real time (`-W`), default 1000. */
  timeoutMs?: number;
}

/** The hop limit of what the host sends (RFC 8200 3, Linux's default 64). */
const HOP_LIMIT = 64;
/** Neighbor Discovery messages travel one hop: sent and required with 255 (RFC 4861 7.1). */
const ND_HOP_LIMIT = 255;

/** The all-nodes multicast address ff02::1 (RFC 4291 2.7.1). */
const ALL_NODES = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

/** The link-local address of `mac` (fe80::/64 with the modified EUI-64, RFC 4291 appendix A). */
export function linkLocalFromMac(mac: Uint8Array): Uint8Array {
  return Uint8Array.of(
    0xfe,
    0x80,
    0,
    0,
    0,
    0,
    0,
    0,
    mac[0] ^ 0x02,
    mac[1],
    mac[2],
    0xff,
    0xfe,
    mac[3],
    mac[4],
    mac[5],
  );
}

/** The mask of byte `i` of a `prefix`-bit IPv6 prefix. */
function prefixMaskByte(prefix: number, i: number): number {
  const bits = prefix - 8 * i;
  return bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
}

/** True when the first `prefix` bits of `a` and `b[off..]` agree. */
function samePrefix(a: Uint8Array, b: Uint8Array, off: number, prefix: number): boolean {
  for (let i = 0; i < 16; i++) {
    const mask = prefixMaskByte(prefix, i);
    if ((a[i] & mask) !== (b[off + i] & mask)) return false;
  }
  return true;
}

const equal16 = (a: Uint8Array, aOff: number, b: Uint8Array, bOff = 0) => {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
};

/** IPv6 for one interface. */
export class Ipv6Host {
  /** The host's addresses: the configured ones, then the link-local one. */
  readonly addresses: Ipv6Address[];
  /** The neighbor cache. */
  readonly neighbors: NeighborCache;
  readonly #device: Device;
  readonly #mac: Uint8Array;
  readonly #counters: Counters;
  readonly #gateway: Uint8Array | null;
  readonly #clock: Clock;
  readonly #dad: boolean;
  readonly #view = new Ipv6View();
  readonly #chain = new Ipv6Chain();
  readonly #nd = new NeighborMessage();
  /** Echo requests waiting for their replies, by "id:seq". */
  readonly #pings = new Map<
    string,
    {
      resolve: (r: Ping6Reply | null) => void;
      timer: ReturnType<typeof setTimeout>;
      sentAt: number;
    }
  >();

  /** IPv6 on `device` (whose MAC is `mac`) with `addresses` and an optional default gateway. */
  constructor(
    device: Device,
    mac: Uint8Array,
    clock: Clock,
    counters: Counters,
    addresses: Ipv6Address[],
    gateway: Uint8Array | null = null,
    dad = true,
  ) {
    this.#device = device;
    this.#clock = clock;
    this.#dad = dad;
    this.#mac = mac;
    this.#counters = counters;
    this.#gateway = gateway;
    this.addresses = [...addresses, { address: linkLocalFromMac(mac), prefix: 64 }].map((a) => ({
      ...a,
      dad: "preferred" as const,
    }));
    this.neighbors = new NeighborCache(clock, {
      solicit: (target, tmac) => this.#solicit(target, tmac),
      resolved: (n, queued) => this.#flush(n, queued),
      failed: (_n, queued) => counters.count("ipv6.neighbor_unresolved", queued.length),
    });
  }

  /** True when `a[off..]` is one of the host's addresses in use (not tentative or duplicate). */
  owns(a: Uint8Array, off = 0): boolean {
    return this.addresses.some((x) => x.dad === "preferred" && equal16(a, off, x.address));
  }

  /** The address entry `a[off..]` is, in any DAD state, or undefined. */
  #entry(a: Uint8Array, off: number): Ipv6Address | undefined {
    return this.addresses.find((x) => equal16(a, off, x.address));
  }

  /**
   * The host starts: every address becomes tentative and gets one DAD solicitation (RFC 4862
   * 5.4.2: DupAddrDetectTransmits 1), unless DAD is off.
   */
  start(): void {
    if (!this.#dad) return;
    const at = this.#clock.now() + RETRANS_TIMER_MS;
    for (const a of this.addresses) {
      a.dad = "tentative";
      a.dadAt = at;
      this.#solicit(a.address, null, true);
    }
  }

  /** Runs the neighbor cache's timers and ends DAD for addresses that waited long enough. */
  tick(): void {
    this.neighbors.tick();
    const now = this.#clock.now();
    for (const a of this.addresses) {
      if (a.dad === "tentative" && now >= (a.dadAt ?? 0)) {
        a.dad = "preferred";
        this.#counters.count("nd.dad_passed");
      }
    }
  }

  /** Another node has `a` (RFC 4862 5.4.5): it is never used. */
  #duplicate(a: Ipv6Address): void {
    a.dad = "duplicate";
    this.#counters.count("nd.dad_duplicate");
  }

  /** One received IPv6 packet `buf[ipOff .. ipOff+len)` (after the Ethernet header). */
  input(buf: Uint8Array, ipOff: number, len: number): void {
    const counters = this.#counters;
    const v = this.#view.wrap(buf, ipOff, len);
    const bad = v.check();
    if (bad !== null) {
      counters.drop(bad);
      return;
    }
    const dst = v.dstOff;
    if (!this.#accepts(buf, dst)) {
      counters.count("drop.ipv6_not_for_us");
      return;
    }
    const end = ipOff + IPV6_HEADER_LEN + v.payloadLength;
    const c = this.#chain;
    const r = walkExtensionHeaders(buf, ipOff, end, c);
    if (r !== null) {
      counters.drop(r);
      return;
    }
    counters.count("ipv6.rx_packets");
    if (c.fragment) {
      // Reassembly (RFC 8200 4.5) comes with the transports that need it.
      counters.count("drop.ipv6_fragment_unsupported");
      return;
    }
    if (c.protocol !== IPV6_NH_ICMPV6) {
      counters.count("drop.ipv6_protocol_unsupported");
      return;
    }
    const off = c.upperOff;
    const mlen = end - off;
    if (mlen < ICMPV6_HEADER_LEN) {
      counters.drop("icmpv6_truncated");
      return;
    }
    if (icmpv6Checksum(buf, v.srcOff, dst, off, mlen) !== 0) {
      counters.drop("icmpv6_bad_checksum");
      return;
    }
    const type = buf[off];
    if (type === ICMPV6_ECHO_REQUEST) this.#echo(buf, v.srcOff, dst, off, mlen);
    else if (type === ICMPV6_ECHO_REPLY) this.#echoReply(buf, v, off, mlen);
    else if (type === ND_NEIGHBOR_SOLICIT) this.#neighborSolicit(buf, v, off, mlen);
    else if (type === ND_NEIGHBOR_ADVERT) this.#neighborAdvert(buf, v, off, mlen);
    else counters.count("icmpv6.rx_other");
  }

  /** Ours: one of our addresses, all-nodes, or the solicited-node group of one of them. */
  #accepts(buf: Uint8Array, dst: number): boolean {
    if (!isIpv6Multicast(buf, dst)) return this.owns(buf, dst);
    if (equal16(buf, dst, ALL_NODES)) return true;
    return this.addresses.some((a) => equal16(buf, dst, solicitedNode(a.address)));
  }

  /** RFC 4443 4.2: the reply carries the request's identifier, sequence and data. */
  #echo(buf: Uint8Array, srcOff: number, dstOff: number, off: number, len: number): void {
    this.#counters.count("icmpv6.echo_requests");
    // A reply to a multicast request comes from one of our unicast addresses (RFC 4443 4.2).
    const from = isIpv6Multicast(buf, dstOff)
      ? this.#sourceFor(buf, srcOff)
      : buf.slice(dstOff, dstOff + 16);
    const msg = buf.slice(off, off + len);
    msg[0] = ICMPV6_ECHO_REPLY;
    this.send(from, buf.slice(srcOff, srcOff + 16), IPV6_NH_ICMPV6, HOP_LIMIT, msg, true);
  }

  /**
   * Sends an echo request to `dst` (RFC 4443 4.1) and resolves with its reply, or null when none
   * came within the timeout (or it could not be sent).
   */
  ping(dst: Uint8Array, options: Ping6Options = {}): Promise<Ping6Reply | null> {
    const id = options.id ?? 0x6c62;
    const seq = options.seq ?? 1;
    const size = options.size ?? 56;
    const msg = new Uint8Array(ICMPV6_HEADER_LEN + size);
    msg[0] = ICMPV6_ECHO_REQUEST;
    msg[4] = id >> 8;
    msg[5] = id & 0xff;
    msg[6] = seq >> 8;
    msg[7] = seq & 0xff;
    for (let i = 0; i < size; i++) msg[ICMPV6_HEADER_LEN + i] = (i + 0x10) & 0xff;
    const key = `${id}:${seq}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pings.delete(key);
        resolve(null);
      }, options.timeoutMs ?? 1000);
      this.#pings.set(key, { resolve, timer, sentAt: this.#clock.now() });
      this.#counters.count("icmpv6.echo_sent");
      const ok = this.send(
        this.#sourceFor(dst, 0),
        dst,
        IPV6_NH_ICMPV6,
        options.hopLimit ?? HOP_LIMIT,
        msg,
        true,
      );
      // Queued for resolution is fine; a packet with no route has no reply to wait for.
      if (!ok && this.neighbors.get(dst) === undefined && !this.#onLinkOrRouted(dst)) {
        clearTimeout(timer);
        this.#pings.delete(key);
        resolve(null);
      }
    });
  }

  #onLinkOrRouted(dst: Uint8Array): boolean {
    return this.#gateway !== null ||
      this.addresses.some((a) => samePrefix(a.address, dst, 0, a.prefix));
  }

  /** An echo reply: the waiting ping with its identifier and sequence resolves. */
  #echoReply(buf: Uint8Array, v: Ipv6View, off: number, len: number): void {
    const id = (buf[off + 4] << 8) | buf[off + 5];
    const seq = (buf[off + 6] << 8) | buf[off + 7];
    const w = this.#pings.get(`${id}:${seq}`);
    if (w === undefined) {
      this.#counters.count("icmpv6.echo_reply_unmatched");
      return;
    }
    this.#pings.delete(`${id}:${seq}`);
    clearTimeout(w.timer);
    w.resolve({
      from: formatIpv6(buf, v.srcOff),
      bytes: len,
      ttl: v.hopLimit,
      seq,
      rttMs: this.#clock.now() - w.sentAt,
    });
  }

  /**
   * The checks NS and NA share (RFC 4861 7.1.1, 7.1.2): hop limit 255 (it crossed no router) and
   * a well-formed body. The parsed message, or null when dropped (counted).
   */
  #parseNeighbor(buf: Uint8Array, v: Ipv6View, off: number, len: number): NeighborMessage | null {
    const m = this.#nd;
    const bad = v.hopLimit !== ND_HOP_LIMIT
      ? "nd_bad_hop_limit"
      : parseNeighborMessage(buf, off, len, m);
    if (bad === null) return m;
    this.#counters.drop(bad);
    return null;
  }

  /** RFC 4861 7.1.1 validation, 7.2.3 the answer and what the cache learns. */
  #neighborSolicit(buf: Uint8Array, v: Ipv6View, off: number, len: number): void {
    const m = this.#parseNeighbor(buf, v, off, len);
    if (m === null) return;
    const src = v.srcOff;
    const dad = isIpv6Unspecified(buf, src);
    if (isIpv6Multicast(buf, m.targetOff) || (dad && m.llOff >= 0)) {
      this.#counters.drop("nd_invalid");
      return;
    }
    const mine = this.#entry(buf, m.targetOff);
    if (mine !== undefined && mine.dad === "tentative") {
      // RFC 4862 5.4.3: another node's DAD for our tentative address: both have it.
      if (dad) this.#duplicate(mine);
      return;
    }
    if (!this.owns(buf, m.targetOff)) {
      this.#counters.count("nd.ns_not_ours");
      return;
    }
    this.#counters.count("nd.ns_answered");
    const target = buf.slice(m.targetOff, m.targetOff + 16);
    if (!dad && m.llOff >= 0) this.neighbors.learn(buf, src, buf.subarray(m.llOff, m.llOff + 6));
    // A DAD probe gets an answer to all nodes, not solicited (RFC 4861 7.2.4).
    const to = dad ? ALL_NODES : buf.slice(src, src + 16);
    const flags = dad ? NA_OVERRIDE : NA_SOLICITED | NA_OVERRIDE;
    const msg = new Uint8Array(32);
    writeNeighborMessage(msg, 0, true, flags, target, this.#mac);
    this.send(target, to, IPV6_NH_ICMPV6, ND_HOP_LIMIT, msg, true);
  }

  /** RFC 4861 7.1.2 validation, 7.2.5 the cache update. */
  #neighborAdvert(buf: Uint8Array, v: Ipv6View, off: number, len: number): void {
    const m = this.#parseNeighbor(buf, v, off, len);
    if (m === null) return;
    const solicited = (m.flags & NA_SOLICITED) !== 0;
    if (isIpv6Multicast(buf, m.targetOff) || (solicited && isIpv6Multicast(buf, v.dstOff))) {
      this.#counters.drop("nd_invalid");
      return;
    }
    const mine = this.#entry(buf, m.targetOff);
    if (mine !== undefined) {
      // Someone else claims our address (RFC 4862 5.4.4): while tentative, it is theirs.
      if (mine.dad === "tentative") this.#duplicate(mine);
      else this.#counters.count("nd.duplicate_address");
      return;
    }
    this.#counters.count("nd.na_received");
    this.neighbors.advertised(
      buf,
      m.targetOff,
      m.llOff >= 0 ? buf.subarray(m.llOff, m.llOff + 6) : null,
      solicited,
      (m.flags & NA_OVERRIDE) !== 0,
      (m.flags & NA_ROUTER) !== 0,
    );
  }

  /** Our address to send from toward `dst[off..]`: one in use on its prefix, else any in use. */
  #sourceFor(buf: Uint8Array, off: number): Uint8Array {
    const usable = this.addresses.filter((a) => a.dad === "preferred");
    const on = usable.find((a) => samePrefix(a.address, buf, off, a.prefix));
    return (on ?? usable[0] ?? this.addresses[0]).address;
  }

  /**
   * A Neighbor Solicitation for `target`: to its solicited-node group, or unicast to `mac`. A DAD
   * probe (`dad`, RFC 4862 5.4.2) comes from :: and carries no source link-layer option.
   */
  #solicit(target: Uint8Array, mac: Uint8Array | null, dad = false): void {
    const msg = new Uint8Array(dad ? 24 : 32);
    writeNeighborMessage(msg, 0, false, 0, target, dad ? null : this.#mac);
    const dst = mac === null ? solicitedNode(target) : target;
    const src = dad ? new Uint8Array(16) : this.#sourceFor(target, 0);
    const frame = this.#frame(src, dst, IPV6_NH_ICMPV6, ND_HOP_LIMIT, msg, true);
    writeEthernetHeader(frame, 0, mac ?? multicastMac(dst), this.#mac, ETH_TYPE_IPV6);
    this.#counters.count(dad ? "nd.dad_sent" : "nd.ns_sent");
    this.#device.send(frame, 0, frame.length);
  }

  /**
   * Sends an IPv6 packet with `payload` (ICMPv6 messages get their checksum when `icmp`) from
   * `src` to `dst`: multicast to its group MAC, on-link through the neighbor cache, else through
   * the gateway. False when it could not be sent (no route) or waits for resolution.
   */
  send(
    src: Uint8Array,
    dst: Uint8Array,
    nextHeader: number,
    hopLimit: number,
    payload: Uint8Array,
    icmp: boolean,
  ): boolean {
    const frame = this.#frame(src, dst, nextHeader, hopLimit, payload, icmp);
    if (isIpv6Multicast(dst, 0)) {
      writeEthernetHeader(frame, 0, multicastMac(dst), this.#mac, ETH_TYPE_IPV6);
      return this.#device.send(frame, 0, frame.length);
    }
    const onLink = this.addresses.some((a) => samePrefix(a.address, dst, 0, a.prefix));
    const hop = onLink ? dst : this.#gateway;
    if (hop === null) {
      this.#counters.count("ipv6.no_route");
      return false;
    }
    const mac = this.neighbors.resolve(hop, frame);
    if (mac === null) return false;
    writeEthernetHeader(frame, 0, mac, this.#mac, ETH_TYPE_IPV6);
    this.#counters.count("ipv6.tx_packets");
    return this.#device.send(frame, 0, frame.length);
  }

  /** A whole frame (Ethernet header left for the caller) carrying `payload`. */
  #frame(
    src: Uint8Array,
    dst: Uint8Array,
    nextHeader: number,
    hopLimit: number,
    payload: Uint8Array,
    icmp: boolean,
  ): Uint8Array {
    const frame = new Uint8Array(ETH_HEADER_LEN + IPV6_HEADER_LEN + payload.length);
    const ip = ETH_HEADER_LEN;
    writeIpv6Header(frame, ip, {
      trafficClass: 0,
      flowLabel: 0,
      payloadLength: payload.length,
      nextHeader,
      hopLimit,
      src,
      dst,
    });
    frame.set(payload, ip + IPV6_HEADER_LEN);
    if (icmp) {
      fillIcmpv6Checksum(frame, ip + 8, ip + 24, ip + IPV6_HEADER_LEN, payload.length);
    }
    return frame;
  }

  /** Sends the frames that waited for `n` to resolve. */
  #flush(n: Neighbor, queued: Uint8Array[]): void {
    for (const frame of queued) {
      writeEthernetHeader(frame, 0, n.mac!, this.#mac, ETH_TYPE_IPV6);
      this.#counters.count("ipv6.tx_packets");
      this.#device.send(frame, 0, frame.length);
    }
  }

  /**
   * The IPv6 routes as `route -n -A inet6` lists them: a connected route per prefix of an address
   * in use (metric 256, as Linux), and the default route through the gateway (metric 1024).
   */
  routeRows(): Ipv6RouteRow[] {
    const rows: Ipv6RouteRow[] = [];
    const seen = new Set<string>();
    for (const a of this.addresses) {
      if (a.dad !== "preferred") continue;
      const net = a.address.map((b, i) => b & prefixMaskByte(a.prefix, i));
      const destination = `${formatIpv6(net)}/${a.prefix}`;
      if (seen.has(destination)) continue;
      seen.add(destination);
      rows.push({ destination, nextHop: "::", flags: "U", metric: 256 });
    }
    if (this.#gateway !== null) {
      rows.push({
        destination: "::/0",
        nextHop: formatIpv6(this.#gateway),
        flags: "UG",
        metric: 1024,
      });
    }
    return rows;
  }

  /** The neighbor cache as `ip -6 neigh` shows it. */
  neighborRows(): Ipv6NeighborRow[] {
    return this.neighbors.entries().map((n) => ({
      address: formatIpv6(n.address),
      mac: n.mac === null ? "" : formatMac(n.mac),
      state: n.state,
      router: n.router,
    }));
  }
}
