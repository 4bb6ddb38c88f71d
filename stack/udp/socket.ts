/**
 * UDP sockets (RFC 768) on the userspace stack, shaped like `Deno.DatagramConn`: `receive()`,
 * `send()`, `close()`, an async iterator and `addr`, so code written for
 * `Deno.listenDatagram({ transport: "udp" })` runs unchanged. A socket binds a port in the
 * stack's {@link UdpDemux}; datagrams for ports nobody bound get ICMP port unreachable there
 * (RFC 1122 4.1.3.1).
 *
 * Families as on Linux: a socket bound to "0.0.0.0" or an IPv4 address is IPv4 only, one bound to
 * an IPv6 address is IPv6 only, and one bound to "::" is dual-stack (IPV6_V6ONLY off, Linux's
 * default): it hears both, and reports an IPv4 sender as the IPv4-mapped address
 * "::ffff:192.0.2.1" (RFC 4291 2.5.5.2), as a Deno socket bound to "::" does. It sends to IPv6
 * literals, IPv4 literals and IPv4-mapped ones.
 *
 * Received datagrams wait in a preallocated byte ring (the socket's receive buffer, like
 * SO_RCVBUF): a datagram that does not fit is dropped and counted, as the kernel does. Only
 * `receive()` allocates, for the array it hands out (unless the caller passes one).
 *
 * @module
 */

import type { IcmpErrorSender } from "../net/icmp.ts";
import { formatIpv4, parseIpv4 } from "../wire/address.ts";
import { formatIpv6, isIpv6Unspecified, parseIpv6 } from "../wire/address6.ts";
import { IPV6_HEADER_LEN, IPV6_NH_UDP, type Ipv6Header, writeIpv6Header } from "../wire/ipv6.ts";
import type { Ipv6Host } from "../net/ipv6_host.ts";
import { readU32 } from "../wire/bytes.ts";
import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import { ICMP_CODE_PORT_UNREACHABLE, ICMP_DEST_UNREACHABLE } from "../wire/icmp.ts";
import { IP_PROTO_UDP, type Ipv4Header, newIpv4Header, writeIpv4Header } from "../wire/ipv4.ts";
import { UDP_HEADER_LEN, UdpView, writeUdpHeader } from "../wire/udp.ts";
import type { Counters } from "../net/counters.ts";
import { portUnreachable6, type UdpDemux } from "./demux.ts";

/** The largest UDP payload in one IPv4 datagram: 65535 - 20 (IP) - 8 (UDP). */
export const MAX_UDP_PAYLOAD = 65507;
/** The largest UDP payload over IPv6 (no jumbograms): 65535 - 8 (UDP). */
export const MAX_UDP6_PAYLOAD = 65527;
/** Default receive buffer in bytes (Linux's net.core.rmem_default). */
export const DEFAULT_UDP_RECEIVE_BUFFER = 212992;
/** Most datagrams a socket queues, whatever their size. */
const MAX_QUEUED = 4096;
/** RFC 6056 / IANA dynamic port range, used for port 0 (an ephemeral port). */
const EPHEMERAL_LOW = 49152;
const EPHEMERAL_HIGH = 65535;
const IP_HEADER = 20;

/** A UDP endpoint, as `Deno.NetAddr` describes one. */
export interface UdpAddr {
  /** Always "udp". */
  transport: "udp";
  /** Dotted-quad IPv4 address, or IPv6 text (canonical, RFC 5952). */
  hostname: string;
  /** Port. */
  port: number;
}

/** Options of {@link listenDatagram}, like `Deno.listenDatagram`'s. */
export interface UdpListenOptions {
  /** Local port; 0 picks a free ephemeral port. */
  port: number;
  /**
   * Local address: "0.0.0.0" (default) receives IPv4 on every address the host owns; "::" both
   * families (dual-stack); an address of the host, that address only.
   */
  hostname?: string;
  /** Must be "udp", as with `Deno.listenDatagram`. */
  transport: "udp";
  /** Receive buffer in bytes (default {@link DEFAULT_UDP_RECEIVE_BUFFER}). */
  receiveBuffer?: number;
  /** TTL of the datagrams sent (Linux IP_TTL); default the stack's. */
  ttl?: number;
  /**
   * Datagrams that arrive with a smaller TTL are dropped and counted (`drop.udp_min_ttl`), as
   * Linux's IP_MINTTL does: the Generalized TTL Security Mechanism (RFC 5082) that single-hop BFD
   * (RFC 5881 5) requires with 255. Default 0: none dropped.
   */
  minTtl?: number;
}

/** What a UDP socket needs from the stack ({@link Stack} has all of it). */
export interface UdpSocketHost extends IcmpErrorSender {
  readonly udp: UdpDemux;
  readonly counters: Counters;
  /** The interface address: source of datagrams from a socket bound to 0.0.0.0. */
  readonly address: number;
  readonly ttl: number;
  readonly routes: { nextHop(dst: number): number | null };
  hasAddress(addr: number): boolean;
  isBroadcast(addr: number): boolean;
  nextIpId(): number;
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number): boolean;
  /** IPv6, when the host has addresses for it. */
  readonly ipv6?: Ipv6Host | null;
}

interface Waiter {
  resolve: (v: [Uint8Array<ArrayBuffer>, UdpAddr]) => void;
  reject: (e: Error) => void;
  into: Uint8Array | undefined;
}

/** Copies `len` bytes of `src` at `srcOff` into a fresh array, or into `into` (truncated). */
function takeBytes(
  src: Uint8Array,
  srcOff: number,
  len: number,
  into: Uint8Array | undefined,
): Uint8Array<ArrayBuffer> {
  const n = into === undefined ? len : Math.min(len, into.length);
  // The caller's array keeps its buffer; Deno's receive() types the result the same way.
  const out = into === undefined
    ? new Uint8Array(n)
    : into.subarray(0, n) as Uint8Array<ArrayBuffer>;
  out.set(src.subarray(srcOff, srcOff + n));
  return out;
}

/** The 12 bytes that make an IPv4 address IPv4-mapped (::ffff:0:0/96, RFC 4291 2.5.5.2). */
const MAPPED_PREFIX = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff);

/** The IPv4 address inside an IPv4-mapped IPv6 address, or -1 when `a` is not one. */
function mappedIpv4(a: Uint8Array): number {
  for (let i = 0; i < 12; i++) if (a[i] !== MAPPED_PREFIX[i]) return -1;
  return readU32(a, 12);
}

/** A socket's families: what it was bound to. */
type Family = "ipv4" | "ipv6" | "dual";

/** A bound UDP socket: the userspace stack's `Deno.DatagramConn`. */
export class UdpSocket implements Deno.DatagramConn {
  /** The bound address. */
  readonly addr: UdpAddr;

  readonly #host: UdpSocketHost;
  /** The bound address as a u32 (0: any). */
  readonly #local: number;
  /** The bound IPv6 address, or null (any, or an IPv4 socket). */
  readonly #local6: Uint8Array | null;
  readonly #family: Family;
  readonly #waiters: Waiter[] = [];
  #closed = false;
  readonly #ttl: number;
  readonly #minTtl: number;

  // The receive ring: datagram bytes stored contiguously (wrapping to 0 when the tail is short),
  // described by a ring of (offset, length, source address, source port) entries.
  readonly #ring: Uint8Array;
  #ringHead = 0;
  #ringUsed = 0;
  readonly #offs = new Int32Array(MAX_QUEUED);
  readonly #lens = new Int32Array(MAX_QUEUED);
  readonly #srcs = new Uint32Array(MAX_QUEUED);
  readonly #ports = new Uint16Array(MAX_QUEUED);
  /** IPv6 sockets: each entry's IPv6 source (16 bytes), and which entries are IPv6. */
  readonly #srcs6: Uint8Array;
  readonly #is6: Uint8Array;
  #qHead = 0;
  #qCount = 0;

  /** One datagram being built: Ethernet headroom, IP and UDP headers, the largest payload. */
  readonly #tx = new Uint8Array(
    ETH_HEADER_LEN + IPV6_HEADER_LEN + UDP_HEADER_LEN + MAX_UDP6_PAYLOAD,
  );
  readonly #ip: Ipv4Header = newIpv4Header();
  #lastHost6 = "";
  #lastDst6: Uint8Array | null = null;
  readonly #ip6: Ipv6Header = {
    trafficClass: 0,
    flowLabel: 0,
    payloadLength: 0,
    nextHeader: IPV6_NH_UDP,
    hopLimit: 64,
    src: new Uint8Array(16),
    dst: new Uint8Array(16),
  };
  readonly #view = new UdpView();

  /**
   * Binds; use {@link listenDatagram} (or `stack.listenDatagram`). `local6` set (all zero for
   * "::") makes an IPv6 socket; with `dual` it hears IPv4 too.
   */
  constructor(
    host: UdpSocketHost,
    port: number,
    local: number,
    receiveBuffer: number,
    ttl = host.ttl,
    minTtl = 0,
    local6: Uint8Array | null = null,
    dual = false,
  ) {
    this.#host = host;
    this.#local = local;
    this.#family = local6 === null ? "ipv4" : dual ? "dual" : "ipv6";
    this.#local6 = local6 === null || isIpv6Unspecified(local6) ? null : local6;
    this.#ttl = ttl;
    this.#minTtl = minTtl;
    this.#ring = new Uint8Array(receiveBuffer);
    const v6 = this.#family !== "ipv4";
    this.#srcs6 = new Uint8Array(v6 ? MAX_QUEUED * 16 : 0);
    this.#is6 = new Uint8Array(v6 ? MAX_QUEUED : 0);
    if (this.#family !== "ipv6") {
      host.udp.bind(port, (buf, ipOff, ipLen, v) => this.#input(buf, ipOff, ipLen, v));
    }
    if (v6 && host.ipv6 != null) {
      host.udp.bind6(port, (buf, ipOff, end, v) => this.#input6(buf, ipOff, end, v));
    }
    const hostname = local6 === null ? formatIpv4(local) : formatIpv6(local6);
    this.addr = { transport: "udp", hostname, port };
  }

  /** Datagrams waiting to be received. */
  get queued(): number {
    return this.#qCount;
  }

  /**
   * The next datagram and its sender. With `p`, the data is copied into `p` and the result is
   * the part of `p` it filled (a longer datagram is truncated, as with `recvfrom`). Rejects with
   * `Deno.errors.BadResource` once the socket is closed.
   */
  receive(p?: Uint8Array): Promise<[Uint8Array<ArrayBuffer>, UdpAddr]> {
    if (this.#closed) return Promise.reject(new Deno.errors.BadResource("socket is closed"));
    if (this.#qCount > 0) {
      const i = this.#qHead;
      const data = takeBytes(this.#ring, this.#offs[i], this.#lens[i], p);
      const from = this.#is6.length > 0 && this.#is6[i] === 1
        ? this.#addrOf6(this.#srcs6, i * 16, this.#ports[i])
        : this.#addrOf(this.#srcs[i], this.#ports[i]);
      this.#dequeue();
      return Promise.resolve([data, from]);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject, into: p }));
  }

  /**
   * Sends `p` as one datagram to `addr` (an IPv4 or, from an IPv6 socket, IPv6 literal);
   * resolves with the bytes sent. Rejects with a RangeError for more than
   * {@link MAX_UDP_PAYLOAD} bytes ({@link MAX_UDP6_PAYLOAD} over IPv6) or a bad address,
   * `Deno.errors.NetworkUnreachable` without a route, `Deno.errors.BadResource` when closed.
   * Over IPv6 a datagram longer than the path MTU leaves in fragments (RFC 8200 4.5).
   */
  send(p: Uint8Array, addr: Deno.Addr | { hostname: string; port: number }): Promise<number> {
    try {
      if (!("hostname" in addr)) throw new TypeError("send: the address is not a NetAddr");
      return Promise.resolve(this.#send(p, addr));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Unbinds the port; pending and later `receive()` calls reject with BadResource. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#family !== "ipv6") this.#host.udp.unbind(this.addr.port);
    if (this.#family !== "ipv4" && this.#host.ipv6 != null) this.#host.udp.unbind6(this.addr.port);
    this.#qCount = 0;
    for (const w of this.#waiters.splice(0)) {
      w.reject(new Deno.errors.BadResource("socket is closed"));
    }
  }

  /** Same as {@link close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  /** Multicast is not implemented on the userspace stack: rejects with `NotSupported`. */
  joinMulticastV4(_address: string, _networkInterface: string): Promise<never> {
    return Promise.reject(new Deno.errors.NotSupported("multicast is not implemented"));
  }

  /** Multicast is not implemented on the userspace stack: rejects with `NotSupported`. */
  joinMulticastV6(_address: string, _networkInterface: number): Promise<never> {
    return Promise.reject(new Deno.errors.NotSupported("multicast is not implemented"));
  }

  /** Yields datagrams until the socket is closed. */
  async *[Symbol.asyncIterator](): AsyncIterableIterator<[Uint8Array<ArrayBuffer>, UdpAddr]> {
    while (!this.#closed) {
      try {
        yield await this.receive();
      } catch (e) {
        if (e instanceof Deno.errors.BadResource) return;
        throw e;
      }
    }
  }

  #send(p: Uint8Array, addr: { hostname: string; port: number }): number {
    if (this.#closed) throw new Deno.errors.BadResource("socket is closed");
    if (!Number.isInteger(addr.port) || addr.port < 1 || addr.port > 65535) {
      throw new RangeError(`port ${addr.port} is not in 1..65535`);
    }
    let dst = parseIpv4(addr.hostname);
    if (dst === null) {
      // The last IPv6 destination is remembered: a reply loop to one peer parses no text.
      const dst6 = this.#lastHost6 === addr.hostname ? this.#lastDst6 : parseIpv6(addr.hostname);
      if (dst6 === null) throw new RangeError(`"${addr.hostname}" is not an IP address`);
      this.#lastHost6 = addr.hostname;
      this.#lastDst6 = dst6;
      const v4 = mappedIpv4(dst6);
      if (v4 < 0) return this.#send6(p, dst6, addr.port, addr.hostname);
      dst = v4;
    }
    if (this.#family === "ipv6") {
      throw new RangeError(`"${addr.hostname}": an IPv6 socket sends to IPv6 addresses only`);
    }
    if (p.length > MAX_UDP_PAYLOAD) {
      throw new RangeError(`a UDP datagram carries at most ${MAX_UDP_PAYLOAD} bytes`);
    }
    const host = this.#host;
    // 127/8 and the host's own addresses go through the stack's loopback (stack/net/loopback.ts),
    // from 127.0.0.1 or from the address itself, as Linux picks the source.
    const loopback = (dst >>> 24) === 127;
    const own = host.hasAddress(dst);
    if (!loopback && !own && !host.isBroadcast(dst) && host.routes.nextHop(dst) === null) {
      throw new Deno.errors.NetworkUnreachable(`no route to ${addr.hostname}`);
    }
    const src = this.#local !== 0 ? this.#local : loopback ? 0x7f000001 : own ? dst : host.address;
    const tx = this.#tx;
    const ipOff = ETH_HEADER_LEN;
    const udpOff = ipOff + IP_HEADER;
    const h = this.#ip;
    h.src = src;
    h.dst = dst;
    h.protocol = IP_PROTO_UDP;
    h.ttl = this.#ttl;
    h.id = host.nextIpId();
    h.payloadLen = UDP_HEADER_LEN + p.length;
    writeIpv4Header(tx, ipOff, h);
    writeUdpHeader(tx, udpOff, this.addr.port, addr.port, p.length);
    tx.set(p, udpOff + UDP_HEADER_LEN);
    this.#view.wrap(tx, udpOff, UDP_HEADER_LEN + p.length).fillChecksum(src, dst);
    if (host.sendIpv4(tx, ipOff, IP_HEADER + UDP_HEADER_LEN + p.length)) {
      host.counters.count("udp.tx_datagrams");
    }
    return p.length;
  }

  /** {@link #send} to an IPv6 address `dst` (RFC 8200 8.1: the checksum is mandatory). */
  #send6(p: Uint8Array, dst: Uint8Array, port: number, text: string): number {
    const ipv6 = this.#host.ipv6;
    if (this.#family === "ipv4" || ipv6 == null) {
      throw new RangeError(`"${text}": this socket is IPv4 (bind "::" for both families)`);
    }
    if (p.length > MAX_UDP6_PAYLOAD) {
      throw new RangeError(`a UDP datagram over IPv6 carries at most ${MAX_UDP6_PAYLOAD} bytes`);
    }
    if (!ipv6.routable(dst)) throw new Deno.errors.NetworkUnreachable(`no route to ${text}`);
    const tx = this.#tx;
    const ipOff = ETH_HEADER_LEN;
    const udpOff = ipOff + IPV6_HEADER_LEN;
    const h = this.#ip6;
    h.payloadLength = UDP_HEADER_LEN + p.length;
    h.hopLimit = this.#ttl;
    h.src = this.#local6 ?? ipv6.sourceFor(dst);
    h.dst = dst;
    writeIpv6Header(tx, ipOff, h);
    writeUdpHeader(tx, udpOff, this.addr.port, port, p.length);
    tx.set(p, udpOff + UDP_HEADER_LEN);
    this.#view.wrap(tx, udpOff, UDP_HEADER_LEN + p.length).fillChecksum6(ipOff + 8, ipOff + 24);
    if (ipv6.sendPacket(tx, ipOff, IPV6_HEADER_LEN + UDP_HEADER_LEN + p.length)) {
      this.#host.counters.count("udp.tx_datagrams");
    }
    return p.length;
  }

  /** The IPv6 demux handler: one datagram for our port (valid only during the call). */
  #input6(buf: Uint8Array, ipOff: number, end: number, v: UdpView): void {
    const host = this.#host;
    const local = this.#local6;
    if (local !== null) {
      for (let i = 0; i < 16; i++) {
        if (buf[ipOff + 24 + i] !== local[i]) {
          // Bound to another address of ours: for this destination the port is closed.
          host.counters.count("drop.udp_no_port");
          portUnreachable6(host.ipv6, buf, ipOff, end);
          return;
        }
      }
    }
    if (buf[ipOff + 7] < this.#minTtl) {
      host.counters.count("drop.udp_min_ttl");
      return;
    }
    const off = v.payloadOffset;
    const len = v.payloadLen;
    const w = this.#waiters.shift();
    if (w !== undefined) {
      w.resolve([takeBytes(buf, off, len, w.into), this.#addrOf6(buf, ipOff + 8, v.srcPort)]);
      return;
    }
    const slot = this.#enqueue(buf, off, len, 0, v.srcPort);
    if (slot < 0) return;
    this.#is6[slot] = 1;
    this.#srcs6.set(buf.subarray(ipOff + 8, ipOff + 24), slot * 16);
  }

  /** The demux handler: one datagram for our port (valid only during the call). */
  #input(buf: Uint8Array, ipOff: number, ipLen: number, v: UdpView): void {
    const host = this.#host;
    const dst = readU32(buf, ipOff + 16);
    if (this.#local !== 0 && dst !== this.#local) {
      // Bound to another address of ours: for this destination the port is closed.
      host.counters.count("drop.udp_no_port");
      host.sendIcmpError(
        ICMP_DEST_UNREACHABLE,
        ICMP_CODE_PORT_UNREACHABLE,
        0,
        buf,
        ipOff,
        ipLen,
      );
      return;
    }
    if (buf[ipOff + 8] < this.#minTtl) {
      host.counters.count("drop.udp_min_ttl");
      return;
    }
    const src = readU32(buf, ipOff + 12);
    const off = v.payloadOffset;
    const len = v.payloadLen;
    const w = this.#waiters.shift();
    if (w !== undefined) {
      w.resolve([takeBytes(buf, off, len, w.into), this.#addrOf(src, v.srcPort)]);
      return;
    }
    const slot = this.#enqueue(buf, off, len, src, v.srcPort);
    if (slot >= 0 && this.#is6.length > 0) this.#is6[slot] = 0;
  }

  /** Queues one datagram's data and sender; the queue slot, or -1 when the buffer is full. */
  #enqueue(buf: Uint8Array, off: number, len: number, src: number, port: number): number {
    const at = this.#reserve(len);
    if (at < 0) {
      this.#host.counters.count("drop.udp_rcvbuf_full");
      return -1;
    }
    const ring = this.#ring;
    for (let i = 0; i < len; i++) ring[at + i] = buf[off + i];
    let slot = this.#qHead + this.#qCount;
    if (slot >= MAX_QUEUED) slot -= MAX_QUEUED;
    this.#offs[slot] = at;
    this.#lens[slot] = len;
    this.#srcs[slot] = src;
    this.#ports[slot] = port;
    this.#qCount++;
    return slot;
  }

  /**
   * Finds room for `len` contiguous bytes after the newest datagram (wrapping to the start of
   * the ring when the tail is too short); the offset, or -1 when the buffer is full.
   */
  #reserve(len: number): number {
    if (this.#qCount === MAX_QUEUED) return -1;
    const size = this.#ring.length;
    if (this.#qCount === 0) {
      this.#ringHead = 0;
      this.#ringUsed = 0;
    }
    const head = this.#ringHead;
    const tail = head + this.#ringUsed; // may exceed size: then the data wrapped
    if (tail < size) {
      // Free: [tail, size) and, wrapping, [0, head).
      if (size - tail >= len) {
        this.#ringUsed += len;
        return tail;
      }
      if (head >= len) {
        this.#ringUsed += size - tail + len; // the short tail is skipped
        return 0;
      }
      return -1;
    }
    const wrapped = tail - size;
    if (head - wrapped >= len) {
      this.#ringUsed += len;
      return wrapped;
    }
    return -1;
  }

  /** Drops the oldest queued datagram, freeing its bytes (and any skipped tail before it). */
  #dequeue(): void {
    const i = this.#qHead;
    this.#qHead = i + 1 === MAX_QUEUED ? 0 : i + 1;
    this.#qCount--;
    if (this.#qCount === 0) {
      this.#ringHead = 0;
      this.#ringUsed = 0;
      return;
    }
    const size = this.#ring.length;
    const next = this.#offs[this.#qHead];
    // Bytes from the old head up to the next datagram's start (through the wrap if it wrapped).
    const freed = next >= this.#ringHead ? next - this.#ringHead : size - this.#ringHead + next;
    this.#ringHead = next;
    this.#ringUsed -= freed;
  }

  /** An IPv4 sender; a dual-stack socket names it IPv4-mapped, as Linux and Deno do. */
  #addrOf(ip: number, port: number): UdpAddr {
    const v4 = formatIpv4(ip);
    return { transport: "udp", hostname: this.#family === "dual" ? `::ffff:${v4}` : v4, port };
  }

  #addrOf6(buf: Uint8Array, off: number, port: number): UdpAddr {
    return { transport: "udp", hostname: formatIpv6(buf, off), port };
  }
}

/**
 * Binds a UDP socket on `host` (a {@link Stack}), like `Deno.listenDatagram`. Throws
 * `Deno.errors.AddrInUse` when the port is bound, `Deno.errors.AddrNotAvailable` for an address
 * the host does not own, and a RangeError for a bad port or hostname.
 */
export function listenDatagram(host: UdpSocketHost, options: UdpListenOptions): UdpSocket {
  if (options.transport !== "udp") {
    throw new TypeError(`listenDatagram: transport must be "udp", got ${options.transport}`);
  }
  const hostname = options.hostname ?? "0.0.0.0";
  let local = parseIpv4(hostname);
  let local6: Uint8Array | null = null;
  if (local === null) {
    local6 = parseIpv6(hostname);
    if (local6 === null) throw new RangeError(`"${hostname}" is not an IP address`);
    const v4 = mappedIpv4(local6);
    if (v4 >= 0) {
      local = v4; // an IPv4-mapped address binds that IPv4 address
      local6 = null;
    } else {
      local = 0;
      // "::" hears every address of both families; another IPv6 address must be ours.
      if (!isIpv6Unspecified(local6) && host.ipv6?.owns(local6) !== true) {
        throw new Deno.errors.AddrNotAvailable(`${hostname} is not an address of this host`);
      }
    }
  }
  // 127/8 is the loopback's: a socket there hears this host only.
  if (local !== 0 && (local >>> 24) !== 127 && !host.hasAddress(local)) {
    throw new Deno.errors.AddrNotAvailable(`${hostname} is not an address of this host`);
  }
  const dual = local6 !== null && isIpv6Unspecified(local6);
  const rcvbuf = options.receiveBuffer ?? DEFAULT_UDP_RECEIVE_BUFFER;
  if (!Number.isInteger(rcvbuf) || rcvbuf < 1024 || rcvbuf > 1 << 30) {
    throw new RangeError(`receiveBuffer ${rcvbuf} is not in 1024..${1 << 30}`);
  }
  let port = options.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port ${port} is not in 0..65535`);
  }
  // Which tables the socket takes: IPv4 unless IPv6 only, IPv6 unless IPv4 only (and the host
  // has IPv6: a dual-stack socket on an IPv4-only host is an IPv4 socket).
  const wants4 = local6 === null || dual;
  const wants6 = local6 !== null && host.ipv6 != null;
  const taken = (p: number) => (wants4 && host.udp.isBound(p)) || (wants6 && host.udp.isBound6(p));
  if (port === 0) {
    port = pickEphemeralPort(taken);
  } else if (taken(port)) {
    throw new Deno.errors.AddrInUse(`UDP port ${port} is already bound`);
  }
  for (const [name, v] of [["ttl", options.ttl], ["minTtl", options.minTtl]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 255)) {
      throw new RangeError(`${name} ${v} is not in 0..255`);
    }
  }
  return new UdpSocket(
    host,
    port,
    local,
    rcvbuf,
    options.ttl ?? host.ttl,
    options.minTtl ?? 0,
    local6,
    dual,
  );
}

/**
 * A free port in the dynamic range: a random start, then the next free one (RFC 6056 3.3.1,
 * "simple port randomization"). Throws AddrInUse when all are taken.
 */
function pickEphemeralPort(taken: (port: number) => boolean): number {
  const n = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
  const start = Math.floor(Math.random() * n);
  for (let i = 0; i < n; i++) {
    const port = EPHEMERAL_LOW + ((start + i) % n);
    if (!taken(port)) return port;
  }
  throw new Deno.errors.AddrInUse("no free ephemeral UDP port");
}
