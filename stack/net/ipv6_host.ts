/**
 * The host side of IPv6 (RFC 8200, RFC 4443, RFC 4861): what a node does with the IPv6 packets
 * addressed to it. It answers Neighbor Solicitations for its addresses and keeps the neighbor
 * cache (ndp.ts) from solicitations and advertisements, answers echo requests, reassembles
 * fragments (RFC 8200 4.5 with RFC 5722's overlap rule; an atomic fragment, offset 0 and no more
 * to come, is processed at once, RFC 6946), hands upper-layer protocols to their handlers
 * (`setProtocol`: UDP, TCP), and sends through the cache, fragmenting what exceeds the path MTU
 * (the link's, or less where a Packet Too Big taught so: RFC 8201, never below 1280).
 * ICMPv6 errors (RFC 4443 2.4, 3) go out rate limited like ICMPv4's (a token bucket, Linux's
 * 1000/s with a burst of 50): Parameter Problem for an unrecognized next header or a refused
 * option, Time Exceeded when reassembly times out, Destination Unreachable for the transports.
 * Static addresses: the configured ones plus the link-local
 * address made from the MAC (RFC 4862 5.3, RFC 4291 appendix A); no router discovery, no SLAAC.
 * Duplicate address detection (RFC 4862 5.4) runs when the host starts: each address stays
 * tentative (not answered for, not used as a source) until one solicitation from :: has gone
 * unanswered for RetransTimer; an advertisement for it, or another node's DAD solicitation for
 * it, marks it duplicate and it is not used (counted, `nd.dad_duplicate`). `nodad` skips it, as
 * Linux's address flag does.
 *
 * {@link Ipv6Host.sendPacket} (the transports' path) allocates nothing per packet once the
 * neighbor is REACHABLE; the ICMPv6 and ND messages the host makes itself allocate a frame each.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import { formatMac } from "../wire/address.ts";
import type { Device } from "../link/device.ts";
import {
  equalIpv6,
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
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAMETER_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
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
  IPV6_FRAGMENT,
  IPV6_FRAGMENT_HEADER_LEN,
  IPV6_HEADER_LEN,
  IPV6_MIN_MTU,
  IPV6_NH_ICMPV6,
  IPV6_NO_NEXT_HEADER,
  Ipv6Chain,
  Ipv6View,
  walkExtensionHeaders,
  writeFragmentHeader,
  writeIpv6Header,
} from "../wire/ipv6.ts";
import type { Counters } from "./counters.ts";
import type { Ipv6PacketHook } from "./hook.ts";
import type { FrameOffload } from "../wire/virtio_net.ts";
import { type Neighbor, NeighborCache, RETRANS_TIMER_MS } from "./ndp.ts";
import { PmtuCache } from "./pmtu.ts";
import { type FragmentHeader, Reassembler } from "./reassembly.ts";
import { TokenBucket } from "./token_bucket.ts";
import { copyBytes, readU32, writeU16 } from "../wire/bytes.ts";

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
  /**
   * False for an address held without Neighbor Discovery (a real server's VIP, as Linux holds
   * one on `lo`): delivered locally, never answered for, never a source, no connected route.
   */
  nd?: boolean;
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

/**
 * An upper-layer protocol over IPv6: the packet is `buf[ipOff .. end)` (the extension headers
 * walked and, for a reassembled one, no fragment header), its upper-layer header at `upperOff`.
 * Valid only during the call.
 */
export type Ipv6ProtocolHandler = (
  buf: Uint8Array,
  ipOff: number,
  end: number,
  upperOff: number,
) => void;

/**
 * An ICMPv6 error reached us about a packet we sent (RFC 4443 2.4 (b)): `type`, `code`, the
 * 32-bit parameter (a Packet Too Big's MTU), and the quoted packet `buf[quoteOff .. quoteEnd)`,
 * starting with its IPv6 header. Valid only during the call.
 */
export type Ipv6ErrorHandler = (
  type: number,
  code: number,
  param: number,
  buf: Uint8Array,
  quoteOff: number,
  quoteEnd: number,
) => void;

/** What a transport needs to report an error about a received IPv6 packet. */
export interface Ipv6ErrorSender {
  /** See {@link Ipv6Host.sendError}. */
  sendError(
    type: number,
    code: number,
    param: number,
    buf: Uint8Array,
    ipOff: number,
    len: number,
  ): boolean;
}

/** An ICMPv6 error message never exceeds the minimum MTU (RFC 4443 2.4 (c)). */
const ERROR_MAX = IPV6_MIN_MTU;

/** The hop limit of what the host sends (RFC 8200 3, Linux's default 64). */
const HOP_LIMIT = 64;
/** Neighbor Discovery messages travel one hop: sent and required with 255 (RFC 4861 7.1). */
const ND_HOP_LIMIT = 255;

/** The first 13 bytes of every solicited-node group, ff02::1:ff00:0/104 (RFC 4291 2.7.1). */
const SOLICITED_PREFIX = Uint8Array.of(0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff);

/** True when `buf[off ..+16)` is a solicited-node multicast address. */
function isSolicitedNodeGroup(buf: Uint8Array, off: number): boolean {
  for (let i = 0; i < 13; i++) if (buf[off + i] !== SOLICITED_PREFIX[i]) return false;
  return true;
}

/** The loopback address ::1 (RFC 4291 2.5.3). */
const LOOPBACK6 = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1);

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

/** IPv6 for one interface. */
export class Ipv6Host implements Ipv6ErrorSender {
  /** The host's addresses: the configured ones, the link-local one, ::1, then added ones. */
  readonly addresses: Ipv6Address[];
  /** The neighbor cache. */
  readonly neighbors: NeighborCache;
  /** The packet hook between IPv6 input and local delivery (a balancer), or null. */
  hook: Ipv6PacketHook | null = null;
  /** Offer packets for other hosts to the hook (a NAT balancer sees its real servers' replies). */
  forwarding = false;
  /**
   * True when the last {@link sendPacket} or {@link sendPacketVia} returned false because the
   * packet waits for neighbor resolution (it goes out when the neighbor answers), not because it
   * was dropped: a forwarder tells the two apart with it.
   */
  sendQueued = false;
  readonly #device: Device;
  readonly #mac: Uint8Array;
  readonly #counters: Counters;
  readonly #gateway: Uint8Array | null;
  readonly #clock: Clock;
  readonly #dad: boolean;
  readonly #view = new Ipv6View();
  readonly #chain = new Ipv6Chain();
  /** For the packets ICMPv6 errors quote (walked while `#chain` may be in use). */
  readonly #quoteChain = new Ipv6Chain();
  readonly #nd = new NeighborMessage();
  /** Upper-layer handlers by next header (ICMPv6 is the host's own). */
  readonly #protocols = new Map<number, Ipv6ProtocolHandler>();
  /** Error handlers by the quoted packet's next header. */
  readonly #errorHandlers = new Map<number, Ipv6ErrorHandler>();
  readonly #reassembler: Reassembler;
  /** The fragment being added (reused). */
  readonly #frag: { -readonly [K in keyof FragmentHeader]-?: FragmentHeader[K] } = {
    src: 0,
    dst: 0,
    protocol: 0,
    id: 0,
    headerLen: 0,
    fragmentOffset: 0,
    moreFragments: false,
    payloadLen: 0,
    dataOff: 0,
    nhOff: 0,
    nextHeader: 0,
  };
  /** Path MTUs learned from Packet Too Big, by destination (canonical text). */
  readonly pmtu: PmtuCache<string>;
  readonly #errorBucket: TokenBucket;
  /** Scratch frame for the fragments of a packet (grown to the link MTU on first use). */
  #fragFrame = new Uint8Array(0);
  /** A fragmented packet's identification: random (RFC 7739), drawn into this. */
  readonly #fragId = new Uint32Array(1);
  /** The last destination whose path MTU was looked up, and its text (the cache's key). */
  readonly #pmtuDst = new Uint8Array(16);
  #pmtuKey = "::";
  /** start() ran: addresses added from now on are announced. */
  #started = false;
  /** The neighbor of the last packet sent, used without a lookup while REACHABLE. */
  #lastNeighbor: Neighbor | null = null;
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
    // ::1 (RFC 4291 2.5.3), as Linux holds it on lo: delivered through `loop`, never on the link.
    this.addresses.push({ address: LOOPBACK6, prefix: 128, dad: "preferred", nd: false });
    this.neighbors = new NeighborCache(
      clock,
      {
        solicit: (target, tmac) => this.#solicit(target, tmac),
        resolved: (n, queued) => this.#flush(n, queued),
        failed: (_n, queued) => this.#unresolved(queued),
      },
      1024,
      64,
    );
    this.#reassembler = new Reassembler(counters, { family: 6 });
    this.pmtu = new PmtuCache<string>(clock, { minMtu: IPV6_MIN_MTU });
    this.#errorBucket = new TokenBucket(clock, 1000, 50);
  }

  /** Hands packets whose upper-layer protocol is `nextHeader` to `handler` (UDP, TCP). */
  setProtocol(nextHeader: number, handler: Ipv6ProtocolHandler): void {
    this.#protocols.set(nextHeader, handler);
  }

  /** Hands ICMPv6 errors about packets of protocol `nextHeader` we sent to `handler`. */
  setErrorHandler(nextHeader: number, handler: Ipv6ErrorHandler): void {
    this.#errorHandlers.set(nextHeader, handler);
  }

  /**
   * Packets that waited for a neighbor that never answered: dropped and counted; each is handed
   * to {@link onUnresolved} (the stack tells TCP, whose connect then fails at once with "no
   * route to host", as Linux does after failed resolution, RFC 4861 7.2.2).
   */
  #unresolved(queued: Uint8Array[]): void {
    this.#counters.count("ipv6.neighbor_unresolved", queued.length);
    const on = this.onUnresolved;
    if (on !== null) { for (const frame of queued) on(frame, ETH_HEADER_LEN); }
  }

  /** Told of each packet dropped because its neighbor never answered (the frame, IP offset). */
  onUnresolved: ((frame: Uint8Array, ipOff: number) => void) | null = null;

  /** True when `a[off..]` is one of the host's addresses in use (not tentative or duplicate). */
  owns(a: Uint8Array, off = 0): boolean {
    // A loop, not `some`: this runs for every packet received and sent (no closure each time).
    const addrs = this.addresses;
    for (let i = 0; i < addrs.length; i++) {
      const x = addrs[i];
      if (x.dad === "preferred" && equalIpv6(a, off, x.address)) return true;
    }
    return false;
  }

  /**
   * Adds an address with its on-link `prefix` (default 128: a single address, no connected
   * route). With `{ nd: false }` it is held without Neighbor Discovery: a real server's VIP.
   * An address already held is left as it is. No DAD: the caller vouches for it (a VIP).
   */
  addAddress(address: Uint8Array, prefix = 128, options: { nd?: boolean } = {}): void {
    if (this.#entry(address, 0) !== undefined) return;
    const a: Ipv6Address = {
      address: address.slice(0, 16),
      prefix,
      dad: "preferred",
      nd: options.nd ?? true,
    };
    this.addresses.push(a);
    // A VIP moving here: the neighbors learn where it went (RFC 4861 7.2.6).
    if (this.#started && a.nd) this.announce(a.address);
  }

  /**
   * An unsolicited Neighbor Advertisement for our `address` to all nodes, with the Override flag
   * (RFC 4861 7.2.6): neighbors that cached another link-layer address for it (a host restarted
   * with a new MAC, a VIP taken over) replace it, as gratuitous ARP does for IPv4.
   */
  announce(address: Uint8Array): void {
    const msg = new Uint8Array(32);
    writeNeighborMessage(msg, 0, true, NA_OVERRIDE, address, this.#mac);
    this.#counters.count("nd.na_unsolicited");
    this.send(address, ALL_NODES, IPV6_NH_ICMPV6, ND_HOP_LIMIT, msg, true);
  }

  /** Removes an address added with {@link addAddress}; true if it was there. */
  removeAddress(address: Uint8Array): boolean {
    const i = this.addresses.findIndex((a) => equalIpv6(address, 0, a.address));
    if (i < 0) return false;
    this.addresses.splice(i, 1);
    return true;
  }

  /** The address entry `a[off..]` is, in any DAD state, or undefined. */
  #entry(a: Uint8Array, off: number): Ipv6Address | undefined {
    const addrs = this.addresses;
    for (let i = 0; i < addrs.length; i++) if (equalIpv6(a, off, addrs[i].address)) return addrs[i];
    return undefined;
  }

  /**
   * The host starts: every address becomes tentative and gets one DAD solicitation (RFC 4862
   * 5.4.2: DupAddrDetectTransmits 1), unless DAD is off.
   */
  start(): void {
    this.#started = true;
    if (!this.#dad) {
      for (const a of this.addresses) if (a.nd !== false) this.announce(a.address);
      return;
    }
    const at = this.#clock.now() + RETRANS_TIMER_MS;
    for (const a of this.addresses) {
      if (a.nd === false) continue; // ::1 and VIPs are not on the link
      a.dad = "tentative";
      a.dadAt = at;
      this.#solicit(a.address, null, true);
    }
  }

  /** Runs the neighbor cache's timers and ends DAD for addresses that waited long enough. */
  tick(): void {
    this.neighbors.tick();
    const now = this.#clock.now();
    this.#reassembler.sweep(now, (b, off, len) => {
      // RFC 8200 4.5: code 1 "fragment reassembly time exceeded", when the first one came.
      this.sendError(ICMPV6_TIME_EXCEEDED, 1, 0, b, off, len);
    });
    for (const a of this.addresses) {
      if (a.dad === "tentative" && now >= (a.dadAt ?? 0)) {
        a.dad = "preferred";
        this.#counters.count("nd.dad_passed");
        if (a.nd !== false) this.announce(a.address);
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
    const forward = !this.#accepts(buf, dst);
    if (forward && (!this.forwarding || this.hook === null)) {
      counters.count("drop.ipv6_not_for_us");
      return;
    }
    const end = ipOff + IPV6_HEADER_LEN + v.payloadLength;
    const c = this.#chain;
    const r = walkExtensionHeaders(buf, ipOff, end, c);
    if (r !== null) {
      counters.drop(r);
      // RFC 8200 4.2-4.4: a refused option or header is reported (code 2: option, 1: header
      // order, 0: the routing header's field), unless its type said not to or multicast forbids.
      if (c.tellSender && !(c.tellOnlyUnicast && isIpv6Multicast(buf, dst))) {
        const code = r === "ipv6_option_unknown" ? 2 : r === "ipv6_hop_by_hop_not_first" ? 1 : 0;
        this.sendError(ICMPV6_PARAMETER_PROBLEM, code, c.errorPointer, buf, ipOff, end - ipOff);
      }
      return;
    }
    counters.count("ipv6.rx_packets");
    if (c.fragment) {
      if (c.fragmentOffset !== 0 || c.moreFragments) {
        this.#fragment(buf, ipOff, end, forward);
        return;
      }
      // An atomic fragment (RFC 6946): a whole packet, never mixed with any reassembly.
      counters.count("ipv6.atomic_fragments");
    }
    this.#hookOrDeliver(buf, ipOff - ETH_HEADER_LEN, ipOff, end, c, forward);
  }

  /**
   * The hook sees the packet first (see hook.ts); what it passes is delivered locally, unless it
   * was for another host (offered only because of `forwarding`): then it is dropped.
   */
  #hookOrDeliver(
    buf: Uint8Array,
    frameOff: number,
    ipOff: number,
    end: number,
    c: Ipv6Chain,
    forward: boolean,
  ): void {
    const hook = this.hook;
    // Neighbor Discovery and the host's own ICMPv6 stay with the host (RFC 4861 is per link).
    if (hook !== null && (forward || c.protocol !== IPV6_NH_ICMPV6 || buf[c.upperOff] < 128)) {
      if (hook(buf, frameOff, ipOff, end - ipOff, c.protocol, c.upperOff) === "consumed") {
        this.#counters.count("hook6.consumed");
        return;
      }
    }
    if (forward) {
      this.#counters.count("drop.ipv6_not_for_us");
      return;
    }
    this.#deliver(buf, ipOff, end, c);
  }

  /** One fragment of a larger packet (RFC 8200 4.5): held, or the packet it completes delivered. */
  #fragment(buf: Uint8Array, ipOff: number, end: number, forward: boolean): void {
    const c = this.#chain;
    const dataOff = c.fragmentHeaderOff + IPV6_FRAGMENT_HEADER_LEN;
    const len = end - dataOff;
    // RFC 8200 4.5: not a multiple of 8 before the last: Parameter Problem at the payload length;
    // past 65535 reassembled: at the fragment offset.
    if (c.moreFragments && (len & 7) !== 0) {
      this.#counters.count("drop.frag6_bad_length");
      this.sendError(ICMPV6_PARAMETER_PROBLEM, 0, 4, buf, ipOff, end - ipOff);
      return;
    }
    const hl = c.fragmentHeaderOff - ipOff;
    if (hl - IPV6_HEADER_LEN + c.fragmentOffset + len > 65535) {
      this.#counters.count("drop.frag6_oversize");
      const pointer = c.fragmentHeaderOff + 2 - ipOff;
      this.sendError(ICMPV6_PARAMETER_PROBLEM, 0, pointer, buf, ipOff, end - ipOff);
      return;
    }
    const f = this.#frag;
    f.src = readU32(buf, ipOff + 20); // any 32 bits of each address: the reassembler's filter
    f.dst = readU32(buf, ipOff + 36);
    f.id = c.fragmentId;
    f.headerLen = hl;
    f.fragmentOffset = c.fragmentOffset;
    f.moreFragments = c.moreFragments;
    f.payloadLen = len;
    f.dataOff = dataOff - ipOff;
    f.nhOff = c.fragmentNhOff - ipOff;
    f.nextHeader = c.fragmentNextHeader;
    const r = this.#reassembler;
    if (!r.add(buf, ipOff, f, this.#clock.now())) return;
    const out = r.outBuf;
    const off = r.outOff;
    const whole = off + r.outLen;
    const bad = walkExtensionHeaders(out, off, whole, c);
    if (bad !== null || c.fragment) {
      this.#counters.drop(bad ?? "ipv6_nested_fragment");
      return;
    }
    this.#hookOrDeliver(out, -1, off, whole, c, forward);
  }

  /** The upper layer of a whole packet whose chain `c` was walked. */
  #deliver(buf: Uint8Array, ipOff: number, end: number, c: Ipv6Chain): void {
    const counters = this.#counters;
    if (c.protocol !== IPV6_NH_ICMPV6) {
      const handler = this.#protocols.get(c.protocol);
      if (handler !== undefined) handler(buf, ipOff, end, c.upperOff);
      else if (c.protocol === IPV6_NO_NEXT_HEADER) counters.count("ipv6.no_next_header");
      else {
        // RFC 8200 4: an unrecognized next header: Parameter Problem code 1 pointing at it.
        counters.count("drop.ipv6_protocol_unsupported");
        this.sendError(ICMPV6_PARAMETER_PROBLEM, 1, c.protocolPointer, buf, ipOff, end - ipOff);
      }
      return;
    }
    const dst = ipOff + 24;
    const v = this.#view.wrap(buf, ipOff, end - ipOff);
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
    else if (type < 128) this.#error(buf, off, end);
    else counters.count("icmpv6.rx_other");
  }

  /**
   * An ICMPv6 error (RFC 4443 2.4 (b)): it must quote a packet we sent (its source one of our
   * addresses). A Packet Too Big lowers the path MTU toward the quoted destination (RFC 8201 4;
   * a value below 1280 counts as 1280); every error then goes to the handler of the quoted
   * packet's protocol, when it has one.
   */
  #error(buf: Uint8Array, off: number, end: number): void {
    const counters = this.#counters;
    const q = off + ICMPV6_HEADER_LEN;
    if (end - q < IPV6_HEADER_LEN || (buf[q] >> 4) !== 6 || !this.owns(buf, q + 8)) {
      counters.drop("icmpv6_error_not_ours");
      return;
    }
    const type = buf[off];
    const param = readU32(buf, off + 4);
    counters.count(`icmpv6.rx_error_${type}`);
    if (type === ICMPV6_PACKET_TOO_BIG) {
      const mtu = this.pmtu.learn(formatIpv6(buf, q + 24), Math.max(param, IPV6_MIN_MTU));
      counters.count("icmpv6.pmtu_learned");
      if (mtu < this.#device.mtu) this.#lastNeighbor = null;
    }
    // The quoted packet's protocol: walk its chain as far as the quote goes.
    const c = this.#quoteChain;
    const next = walkExtensionHeaders(buf, q, end, c) === null ? c.protocol : buf[q + 6];
    const handler = this.#errorHandlers.get(next);
    if (handler !== undefined) handler(type, buf[off + 1], param, buf, q, end);
  }

  /**
   * Sends an ICMPv6 error about the packet `buf[ipOff .. ipOff+len)` we received (RFC 4443 2.4):
   * never about an ICMPv6 error, nor (Packet Too Big and Parameter Problem code 2 aside) about a
   * packet sent to a multicast address, nor to a source that is not one unicast node; at most as
   * many as the rate limit lets through; quoting as much of the packet as fits in 1280 bytes.
   */
  sendError(
    type: number,
    code: number,
    param: number,
    buf: Uint8Array,
    ipOff: number,
    len: number,
  ): boolean {
    const counters = this.#counters;
    const src = ipOff + 8;
    const dst = ipOff + 24;
    if (len < IPV6_HEADER_LEN) return false;
    if (isIpv6Multicast(buf, src) || isIpv6Unspecified(buf, src)) {
      counters.count("icmpv6.error_suppressed");
      return false;
    }
    const multicastOk = type === ICMPV6_PACKET_TOO_BIG ||
      (type === ICMPV6_PARAMETER_PROBLEM && code === 2);
    if (isIpv6Multicast(buf, dst) && !multicastOk) {
      counters.count("icmpv6.error_suppressed");
      return false;
    }
    if (this.#isIcmpError(buf, ipOff, ipOff + len)) {
      counters.count("icmpv6.error_suppressed");
      return false;
    }
    if (!this.#errorBucket.take()) {
      counters.count("icmpv6.error_rate_limited");
      return false;
    }
    const quote = Math.min(len, ERROR_MAX - IPV6_HEADER_LEN - ICMPV6_HEADER_LEN);
    const msg = new Uint8Array(ICMPV6_HEADER_LEN + quote);
    msg[0] = type;
    msg[1] = code;
    msg[4] = param >>> 24;
    msg[5] = (param >>> 16) & 0xff;
    msg[6] = (param >>> 8) & 0xff;
    msg[7] = param & 0xff;
    msg.set(buf.subarray(ipOff, ipOff + quote), ICMPV6_HEADER_LEN);
    const from = this.owns(buf, dst) ? buf.slice(dst, dst + 16) : this.#sourceFor(buf, src);
    counters.count(`icmpv6.tx_error_${type}`);
    return this.send(from, buf.slice(src, src + 16), IPV6_NH_ICMPV6, HOP_LIMIT, msg, true);
  }

  /** True when the packet carries an ICMPv6 error message (or is too short to tell). */
  #isIcmpError(buf: Uint8Array, ipOff: number, end: number): boolean {
    const c = this.#quoteChain;
    return walkExtensionHeaders(buf, ipOff, end, c) === null && c.protocol === IPV6_NH_ICMPV6 &&
      (c.upperOff >= end || buf[c.upperOff] < 128);
  }

  /** Ours: one of our addresses, all-nodes, or the solicited-node group of one of them. */
  #accepts(buf: Uint8Array, dst: number): boolean {
    if (!isIpv6Multicast(buf, dst)) return this.owns(buf, dst);
    if (equalIpv6(buf, dst, ALL_NODES)) return true;
    // A solicited-node group (ff02::1:ffXX:XXXX, RFC 4291 2.7.1) of one of our addresses: its
    // low 24 bits are the address's.
    if (!isSolicitedNodeGroup(buf, dst)) return false;
    const addrs = this.addresses;
    for (let i = 0; i < addrs.length; i++) {
      const a = addrs[i].address;
      if (a[13] === buf[dst + 13] && a[14] === buf[dst + 14] && a[15] === buf[dst + 15]) {
        return true;
      }
    }
    return false;
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
    if (!this.owns(buf, m.targetOff) || mine?.nd === false) {
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

  /** True when `buf[off ..+16)` can be sent to: multicast, on-link, or through the gateway. */
  routable(buf: Uint8Array, off = 0): boolean {
    return isIpv6Multicast(buf, off) || this.#gateway !== null || this.#onLink(buf, off) ||
      (this.loop !== null && this.owns(buf, off));
  }

  /**
   * Where packets to ::1 and to the host's own addresses go (the stack's loopback, which hands
   * them back to `input`); null: they are not deliverable (sent as if to a neighbor).
   */
  loop: ((buf: Uint8Array, ipOff: number, len: number, o: FrameOffload | null) => boolean) | null =
    null;

  /**
   * Our address to send from toward `buf[off ..+16)` (RFC 6724 in its simplest form): one in use
   * on the destination's prefix, else any in use. The array is the host's own: do not modify it.
   */
  sourceFor(buf: Uint8Array, off = 0): Uint8Array {
    return this.#sourceFor(buf, off);
  }

  /** Our address to send from toward `dst[off..]`: one in use on its prefix, else any in use. */
  #sourceFor(buf: Uint8Array, off: number): Uint8Array {
    const addrs = this.addresses;
    // To ourselves, from the address itself (::1 from ::1), as Linux picks it.
    const own = this.#entry(buf, off);
    if (own !== undefined && own.dad === "preferred") return own.address;
    let any: Ipv6Address | null = null;
    for (let i = 0; i < addrs.length; i++) {
      const a = addrs[i];
      if (a.dad !== "preferred" || a.nd === false) continue;
      if (samePrefix(a.address, buf, off, a.prefix)) return a.address;
      if (any === null) any = a;
    }
    return (any ?? addrs[0]).address;
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
    return this.sendPacket(frame, ETH_HEADER_LEN, frame.length - ETH_HEADER_LEN);
  }

  /**
   * Sends the IPv6 packet `buf[ipOff .. ipOff+len)` (header filled; `ETH_HEADER_LEN` bytes free
   * before it for the Ethernet header): multicast to its group MAC, on-link through the neighbor
   * cache, else through the gateway; fragmented (RFC 8200 4.5) when longer than the path MTU,
   * which needs a packet without extension headers (what the host's own transports send). The
   * caller may reuse `buf` at once (a packet waiting for resolution is copied). False when it
   * could not be sent (no route), was dropped, or waits for resolution. `offload` is the frame's
   * metadata for a device with offloads (a forwarded super-frame goes whole, never fragmented).
   */
  sendPacket(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    offload: FrameOffload | null = null,
  ): boolean {
    this.sendQueued = false;
    const dst = ipOff + 24;
    // To ::1 or to one of our own addresses: back in through the loopback, as through lo.
    const loop = this.loop;
    if (loop !== null && this.owns(buf, dst)) return loop(buf, ipOff, len, offload);
    // The next hop is `hop[hopOff ..+16)`: the destination itself on-link, else the gateway;
    // null for multicast.
    let hop: Uint8Array | null = null;
    let hopOff = 0;
    if (!isIpv6Multicast(buf, dst)) {
      if (this.#onLink(buf, dst)) {
        hop = buf;
        hopOff = dst;
      } else hop = this.#gateway;
      if (hop === null) {
        this.#counters.count("ipv6.no_route");
        return false;
      }
    }
    if (offload !== null && offload.gsoType !== 0) {
      return this.#emit(buf, ipOff, len, hop, hopOff, offload);
    }
    // Up to the minimum MTU every path carries it (RFC 8200 5): no lookup.
    let mtu = this.#device.mtu;
    if (len > IPV6_MIN_MTU && this.pmtu.size > 0) {
      // The cache is keyed by the address text: the last destination's is kept, so a flow of
      // large packets to one peer formats its address once.
      if (!equalIpv6(buf, dst, this.#pmtuDst)) {
        copyBytes(buf, dst, this.#pmtuDst, 0, 16);
        this.#pmtuKey = formatIpv6(buf, dst);
      }
      const learned = this.pmtu.get(this.#pmtuKey);
      if (learned > 0 && learned < mtu) mtu = learned;
    }
    if (len <= mtu) return this.#emit(buf, ipOff, len, hop, hopOff, offload);
    if (hop === buf) {
      // The fragments are built elsewhere: the next hop must not be read from the packet.
      hop = buf.slice(dst, dst + 16);
      hopOff = 0;
    }
    return this.#fragmentOut(buf, ipOff, len, mtu, hop);
  }

  /**
   * Sends the IPv6 packet `buf[ipOff .. ipOff+len)` as it is to the on-link neighbor
   * `hop[hopOff ..+16)`, whatever its destination (a DR balancer's forwarding: the real server
   * holds the VIP). Not fragmented; `offload` as for {@link sendPacket}.
   */
  sendPacketVia(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    hop: Uint8Array,
    hopOff = 0,
    offload: FrameOffload | null = null,
  ): boolean {
    this.sendQueued = false;
    return this.#emit(buf, ipOff, len, hop, hopOff, offload);
  }

  /** True when `buf[off..]` is on the prefix of one of our addresses. */
  #onLink(buf: Uint8Array, off: number): boolean {
    const addrs = this.addresses;
    for (let i = 0; i < addrs.length; i++) {
      const a = addrs[i];
      if (a.nd !== false && a.prefix < 128 && samePrefix(a.address, buf, off, a.prefix)) {
        return true;
      }
    }
    return false;
  }

  /**
   * One packet that fits the MTU onto the link: to the MAC of the next hop `hop[hopOff ..+16)`,
   * or (`hop` null) to its multicast group's.
   */
  #emit(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    hop: Uint8Array | null,
    hopOff: number,
    offload: FrameOffload | null = null,
  ): boolean {
    const frameOff = ipOff - ETH_HEADER_LEN;
    let mac: Uint8Array | null;
    if (hop === null) mac = multicastMac(buf, ipOff + 24);
    else {
      const last = this.#lastNeighbor;
      if (last !== null && last.state === "REACHABLE" && equalIpv6(hop, hopOff, last.address)) {
        mac = last.mac;
      } else {
        mac = this.neighbors.resolveAt(hop, hopOff, buf, frameOff, len + ETH_HEADER_LEN);
        if (mac !== null) this.#lastNeighbor = this.neighbors.lastResolved;
      }
      if (mac === null) {
        this.sendQueued = true; // resolve() queued a copy
        return false;
      }
    }
    writeEthernetHeader(buf, frameOff, mac, this.#mac, ETH_TYPE_IPV6);
    this.#counters.count("ipv6.tx_packets");
    return this.#device.send(buf, frameOff, len + ETH_HEADER_LEN, offload);
  }

  /**
   * RFC 8200 4.5: the packet's payload in pieces of a multiple of 8 bytes, each behind a copy of
   * the IPv6 header and a fragment header with one random identification (RFC 7739).
   */
  #fragmentOut(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    mtu: number,
    hop: Uint8Array | null,
  ): boolean {
    const payload = len - IPV6_HEADER_LEN;
    const chunk = (mtu - IPV6_HEADER_LEN - IPV6_FRAGMENT_HEADER_LEN) & ~7;
    const headers = IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN;
    if (this.#fragFrame.length < ETH_HEADER_LEN + headers + chunk) {
      this.#fragFrame = new Uint8Array(ETH_HEADER_LEN + headers + chunk);
    }
    const f = this.#fragFrame;
    const ip = ETH_HEADER_LEN;
    crypto.getRandomValues(this.#fragId);
    const id = this.#fragId[0];
    const nextHeader = buf[ipOff + 6];
    let sent = true;
    for (let at = 0; at < payload; at += chunk) {
      const n = Math.min(chunk, payload - at);
      f.set(buf.subarray(ipOff, ipOff + IPV6_HEADER_LEN), ip);
      writeU16(f, ip + 4, IPV6_FRAGMENT_HEADER_LEN + n);
      f[ip + 6] = IPV6_FRAGMENT;
      writeFragmentHeader(f, ip + IPV6_HEADER_LEN, nextHeader, at, at + n < payload, id);
      const from = ipOff + IPV6_HEADER_LEN + at;
      f.set(buf.subarray(from, from + n), ip + headers);
      this.#counters.count("ipv6.fragments_sent");
      if (!this.#emit(f, ip, headers + n, hop, 0)) sent = false;
    }
    this.#counters.count("ipv6.fragmented");
    return sent;
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
      if (a.dad !== "preferred" || a.nd === false) continue;
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
