/**
 * The sending side of ping: ICMP echo requests (RFC 792) matched to replies by identifier and
 * sequence. Requests larger than the MTU leave as fragments and their replies come back
 * reassembled, like `ping -s 4000`. A ping of 127/8 or of one of the host's own addresses never
 * reaches the device: it loops back (loopback.ts) and the host answers itself, as Linux does
 * through `lo`; its source is picked as Linux picks it (127.0.0.1 for 127/8, the address itself
 * for an own address).
 *
 * @module
 */

import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import { ICMP_ECHO_REQUEST, writeIcmpEcho } from "../wire/icmp.ts";
import { IP_PROTO_ICMP, writeIpv4Header } from "../wire/ipv4.ts";
import type { Clock } from "../clock.ts";

/** Options of {@link Pinger.ping}, like ping(8)'s. */
export interface PingOptions {
  /** ICMP payload bytes (`ping -s`), default 56. */
  size?: number;
  /** ICMP identifier, default one per stack. */
  id?: number;
  /** Sequence number, default counting up from 1. */
  seq?: number;
  /** IP TTL (`ping -t`), default the stack's. */
  ttl?: number;
  /** How long to wait for the reply (`ping -W`), default 1000 ms of real time (a timer). */
  timeoutMs?: number;
  /** Set DF (`ping -M do`): too big for the MTU then fails instead of fragmenting. */
  dontFragment?: boolean;
}

/** One answered ping. */
export interface PingReply {
  /** Source address of the reply. */
  from: number;
  /** ICMP bytes received (header + payload), as ping(8) prints "64 bytes from". */
  bytes: number;
  /** TTL of the reply. */
  ttl: number;
  /** Its sequence number. */
  seq: number;
  /** Round trip in milliseconds, on the stack's clock. */
  rttMs: number;
}

/** What ping needs from the stack. */
export interface PingHost {
  readonly clock: Clock;
  readonly ttl: number;
  readonly address: number;
  readonly device: { readonly mtu: number };
  hasAddress(addr: number): boolean;
  nextIpId(): number;
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number): boolean;
}

/** 127.0.0.1: the source of pings to 127/8 (Linux's `local 127.0.0.0/8 ... src 127.0.0.1`). */
const LOOPBACK_ADDRESS = 0x7f000001;

interface Waiter {
  resolve: (r: PingReply | null) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  sentAt: number;
}

/** Outstanding echo requests of one stack. */
export class Pinger {
  readonly #host: PingHost;
  readonly #waiters = new Map<number, Waiter>();
  readonly #id: number;
  #seq = 0;

  /** A pinger whose default identifier is random (as ping(8) uses its pid). */
  constructor(host: PingHost) {
    this.#host = host;
    this.#id = Math.floor(Math.random() * 65536);
  }

  /** Requests waiting for a reply. */
  get pending(): number {
    return this.#waiters.size;
  }

  /**
   * Sends one echo request to `dst` and resolves with the reply, or null after `timeoutMs`.
   * Rejects when the request cannot be sent: "message too long" for DF and a size above the MTU,
   * otherwise a generic error (the stack's counters say why: no route, ARP queue full, ...).
   */
  ping(dst: number, options: PingOptions = {}): Promise<PingReply | null> {
    const host = this.#host;
    const size = options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65535 - 28) {
      return Promise.reject(new RangeError(`ping size ${size} is not in 0..65507`));
    }
    const id = (options.id ?? this.#id) & 0xffff;
    const seq = (options.seq ?? ++this.#seq) & 0xffff;
    const df = options.dontFragment ?? false;
    const buf = new Uint8Array(ETH_HEADER_LEN + 28 + size);
    const payload = new Uint8Array(size);
    // Like ping(8): a recognisable pattern, so a corrupted reply is visible in a capture.
    for (let i = 0; i < size; i++) payload[i] = (i + 8) & 0xff;
    const src = (dst >>> 24) === 127 ? LOOPBACK_ADDRESS : host.hasAddress(dst) ? dst : host.address;
    const hl = writeIpv4Header(buf, ETH_HEADER_LEN, {
      src,
      dst,
      protocol: IP_PROTO_ICMP,
      ttl: options.ttl ?? host.ttl,
      id: host.nextIpId(),
      tos: 0,
      dontFragment: df,
      moreFragments: false,
      fragmentOffset: 0,
      payloadLen: 8 + size,
    });
    writeIcmpEcho(buf, ETH_HEADER_LEN + hl, ICMP_ECHO_REQUEST, id, seq, payload, 0, size);
    const key = id * 65536 + seq;
    this.#waiters.get(key)?.resolve(null);
    const { promise, resolve } = Promise.withResolvers<PingReply | null>();
    const waiter: Waiter = {
      resolve: (r) => {
        clearTimeout(waiter.timer);
        if (this.#waiters.get(key) === waiter) this.#waiters.delete(key);
        resolve(r);
      },
      timer: undefined,
      sentAt: host.clock.now(),
    };
    waiter.timer = setTimeout(() => waiter.resolve(null), options.timeoutMs ?? 1000);
    this.#waiters.set(key, waiter);
    if (!host.sendIpv4(buf, ETH_HEADER_LEN, hl + 8 + size)) {
      waiter.resolve(null);
      const tooBig = df && hl + 8 + size > host.device.mtu;
      return Promise.reject(
        new Error(
          tooBig
            ? `ping: message too long, mtu=${host.device.mtu}`
            : "ping: request not sent (see the stack's drop counters)",
        ),
      );
    }
    return promise;
  }

  /** The stack's ICMP calls this for every echo reply addressed to us. */
  onEchoReply(from: number, ttl: number, id: number, seq: number, icmpLen: number): void {
    const w = this.#waiters.get(id * 65536 + seq);
    if (w === undefined) return;
    w.resolve({ from, bytes: icmpLen, ttl, seq, rttMs: this.#host.clock.now() - w.sentAt });
  }

  /** Resolves every outstanding ping with null (the stack is closing). */
  cancelAll(): void {
    for (const w of [...this.#waiters.values()]) w.resolve(null);
  }
}
