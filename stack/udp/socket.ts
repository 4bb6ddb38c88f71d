/**
 * UDP sockets (RFC 768) on the userspace stack, shaped like `Deno.DatagramConn`: `receive()`,
 * `send()`, `close()`, an async iterator and `addr`, so code written for
 * `Deno.listenDatagram({ transport: "udp" })` runs unchanged. A socket binds a port in the
 * stack's {@link UdpDemux}; datagrams for ports nobody bound get ICMP port unreachable there
 * (RFC 1122 4.1.3.1).
 *
 * Received datagrams wait in a preallocated byte ring (the socket's receive buffer, like
 * SO_RCVBUF): a datagram that does not fit is dropped and counted, as the kernel does. Only
 * `receive()` allocates, for the array it hands out (unless the caller passes one).
 *
 * @module
 */

import type { IcmpErrorSender } from "../net/icmp.ts";
import { formatIpv4, parseIpv4 } from "../wire/address.ts";
import { readU32 } from "../wire/bytes.ts";
import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import { ICMP_CODE_PORT_UNREACHABLE, ICMP_DEST_UNREACHABLE } from "../wire/icmp.ts";
import { IP_PROTO_UDP, type Ipv4Header, newIpv4Header, writeIpv4Header } from "../wire/ipv4.ts";
import { UDP_HEADER_LEN, UdpView, writeUdpHeader } from "../wire/udp.ts";
import type { Counters } from "../net/counters.ts";
import type { UdpDemux } from "./demux.ts";

/** The largest UDP payload in one IPv4 datagram: 65535 - 20 (IP) - 8 (UDP). */
export const MAX_UDP_PAYLOAD = 65507;
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
  /** Dotted-quad IPv4 address. */
  hostname: string;
  /** Port. */
  port: number;
}

/** Options of {@link listenDatagram}, like `Deno.listenDatagram`'s. */
export interface UdpListenOptions {
  /** Local port; 0 picks a free ephemeral port. */
  port: number;
  /** Local address: "0.0.0.0" (default) receives on every address the host owns. */
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

/** A bound UDP socket: the userspace stack's `Deno.DatagramConn`. */
export class UdpSocket implements Deno.DatagramConn {
  /** The bound address. */
  readonly addr: UdpAddr;

  readonly #host: UdpSocketHost;
  /** The bound address as a u32 (0: any). */
  readonly #local: number;
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
  #qHead = 0;
  #qCount = 0;

  /** One datagram being built: Ethernet headroom, IPv4 and UDP headers, the largest payload. */
  readonly #tx = new Uint8Array(ETH_HEADER_LEN + IP_HEADER + UDP_HEADER_LEN + MAX_UDP_PAYLOAD);
  readonly #ip: Ipv4Header = newIpv4Header();
  readonly #view = new UdpView();

  /** Binds; use {@link listenDatagram} (or `stack.listenDatagram`). */
  constructor(
    host: UdpSocketHost,
    port: number,
    local: number,
    receiveBuffer: number,
    ttl = host.ttl,
    minTtl = 0,
  ) {
    this.#host = host;
    this.#local = local;
    this.#ttl = ttl;
    this.#minTtl = minTtl;
    this.#ring = new Uint8Array(receiveBuffer);
    host.udp.bind(port, (buf, ipOff, ipLen, v) => this.#input(buf, ipOff, ipLen, v));
    this.addr = { transport: "udp", hostname: formatIpv4(local), port };
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
      const from = this.#addrOf(this.#srcs[i], this.#ports[i]);
      this.#dequeue();
      return Promise.resolve([data, from]);
    }
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject, into: p }));
  }

  /**
   * Sends `p` as one datagram to `addr` (an IPv4 literal); resolves with the bytes sent. Rejects
   * with a RangeError for more than {@link MAX_UDP_PAYLOAD} bytes or a bad address,
   * `Deno.errors.NetworkUnreachable` without a route, `Deno.errors.BadResource` when closed.
   */
  send(p: Uint8Array, addr: Deno.Addr | { hostname: string; port: number }): Promise<number> {
    try {
      if (!("hostname" in addr)) throw new TypeError("send: the address is not an IPv4 NetAddr");
      return Promise.resolve(this.#send(p, addr));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Unbinds the port; pending and later `receive()` calls reject with BadResource. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#host.udp.unbind(this.addr.port);
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

  /** IPv6 is not implemented on the userspace stack: rejects with `NotSupported`. */
  joinMulticastV6(_address: string, _networkInterface: number): Promise<never> {
    return Promise.reject(new Deno.errors.NotSupported("IPv6 is not implemented"));
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
    const dst = parseIpv4(addr.hostname);
    if (dst === null) throw new RangeError(`"${addr.hostname}" is not an IPv4 address`);
    if (!Number.isInteger(addr.port) || addr.port < 1 || addr.port > 65535) {
      throw new RangeError(`port ${addr.port} is not in 1..65535`);
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
    const at = this.#reserve(len);
    if (at < 0) {
      host.counters.count("drop.udp_rcvbuf_full");
      return;
    }
    const ring = this.#ring;
    for (let i = 0; i < len; i++) ring[at + i] = buf[off + i];
    let slot = this.#qHead + this.#qCount;
    if (slot >= MAX_QUEUED) slot -= MAX_QUEUED;
    this.#offs[slot] = at;
    this.#lens[slot] = len;
    this.#srcs[slot] = src;
    this.#ports[slot] = v.srcPort;
    this.#qCount++;
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

  #addrOf(ip: number, port: number): UdpAddr {
    return { transport: "udp", hostname: formatIpv4(ip), port };
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
  const local = parseIpv4(hostname);
  if (local === null) throw new RangeError(`"${hostname}" is not an IPv4 address`);
  // 127/8 is the loopback's: a socket there hears this host only.
  if (local !== 0 && (local >>> 24) !== 127 && !host.hasAddress(local)) {
    throw new Deno.errors.AddrNotAvailable(`${hostname} is not an address of this host`);
  }
  const rcvbuf = options.receiveBuffer ?? DEFAULT_UDP_RECEIVE_BUFFER;
  if (!Number.isInteger(rcvbuf) || rcvbuf < 1024 || rcvbuf > 1 << 30) {
    throw new RangeError(`receiveBuffer ${rcvbuf} is not in 1024..${1 << 30}`);
  }
  let port = options.port;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`port ${port} is not in 0..65535`);
  }
  if (port === 0) {
    port = pickEphemeralPort(host.udp);
  } else if (host.udp.isBound(port)) {
    throw new Deno.errors.AddrInUse(`UDP port ${port} is already bound`);
  }
  for (const [name, v] of [["ttl", options.ttl], ["minTtl", options.minTtl]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 255)) {
      throw new RangeError(`${name} ${v} is not in 0..255`);
    }
  }
  return new UdpSocket(host, port, local, rcvbuf, options.ttl ?? host.ttl, options.minTtl ?? 0);
}

/**
 * A free port in the dynamic range: a random start, then the next free one (RFC 6056 3.3.1,
 * "simple port randomization"). Throws AddrInUse when all are taken.
 */
function pickEphemeralPort(udp: UdpDemux): number {
  const n = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
  const start = Math.floor(Math.random() * n);
  for (let i = 0; i < n; i++) {
    const port = EPHEMERAL_LOW + ((start + i) % n);
    if (!udp.isBound(port)) return port;
  }
  throw new Deno.errors.AddrInUse("no free ephemeral UDP port");
}
