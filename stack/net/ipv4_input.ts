/**
 * IPv4 input: validation (RFC 791 3.1; RFC 1122 3.2.1), reassembly, the packet hook, and local
 * delivery to the protocol handlers. Every packet ends in exactly one counter.
 *
 * @module
 */

import type { IcmpErrorSender } from "./icmp.ts";
import { isMulticastIpv4 } from "../wire/address.ts";
import {
  ICMP_CODE_PROTO_UNREACHABLE,
  ICMP_DEST_UNREACHABLE,
  ICMP_TIME_EXCEEDED,
} from "../wire/icmp.ts";
import { Ipv4View } from "../wire/ipv4.ts";
import type { Clock } from "../clock.ts";
import type { Counters } from "./counters.ts";
import type { PacketHook } from "./hook.ts";
import type { Reassembler } from "./reassembly.ts";

/** A local-delivery handler for one IP protocol: `buf[ipOff .. ipOff+ipLen)` is the packet. */
export type ProtocolHandler = (buf: Uint8Array, ipOff: number, ipLen: number) => void;

/** What IPv4 input needs from the stack. */
export interface Ipv4InputHost extends IcmpErrorSender {
  readonly counters: Counters;
  readonly clock: Clock;
  /** When true, packets for other hosts are offered to the hook (a NAT balancer's case). */
  readonly forwarding: boolean;
  /** True while the frame being handled was sent to a link-layer broadcast or multicast. */
  readonly rxLinkGroup: boolean;
  hasAddress(addr: number): boolean;
  isBroadcast(addr: number): boolean;
}

/** The IPv4 receive path of one stack. */
export class Ipv4Input {
  readonly #host: Ipv4InputHost;
  readonly #reassembler: Reassembler;
  readonly #view = new Ipv4View();
  /** Handlers by protocol number (256 slots, so dispatch is an index). */
  readonly #protocols: (ProtocolHandler | null)[] = new Array(256).fill(null);
  /** The packet hook (the balancer), or null. */
  hook: PacketHook | null = null;
  /** Counter slots of the per-packet outcomes (counters.ts: no name lookup per packet). */
  readonly #cConsumed: number;
  readonly #cDelivered: number;

  /** Input for `host`, reassembling with `reassembler`. */
  constructor(host: Ipv4InputHost, reassembler: Reassembler) {
    this.#host = host;
    this.#reassembler = reassembler;
    this.#cConsumed = host.counters.slot("hook.consumed");
    this.#cDelivered = host.counters.slot("ipv4.delivered");
  }

  /** Sets (or with null clears) the handler for `protocol` (0..255). */
  setProtocol(protocol: number, handler: ProtocolHandler | null): void {
    if (!Number.isInteger(protocol) || protocol < 0 || protocol > 255) {
      throw new RangeError(`IP protocol ${protocol} is not in 0..255`);
    }
    this.#protocols[protocol] = handler;
  }

  /** True when `protocol` has a handler. */
  hasProtocol(protocol: number): boolean {
    return this.#protocols[protocol] !== null;
  }

  /**
   * Handles one IPv4 packet: `buf[ipOff .. ipOff+avail)` is the Ethernet payload (which may be
   * longer than the packet: Ethernet pads short frames) and `buf[frameOff .. ipOff)` the header
   * it came in.
   */
  input(buf: Uint8Array, frameOff: number, ipOff: number, avail: number): void {
    const host = this.#host;
    const counters = host.counters;
    const v = this.#view.wrap(buf, ipOff, avail);
    const reason = v.check();
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    let ipLen = v.totalLength;
    const src = v.src;
    const dst = v.dst;
    // RFC 1122 3.2.1.3: a source address is never a broadcast or multicast address, nor
    // loopback (127/8), nor "this network" (0/8) except in a broadcast (a DHCP-style client
    // without an address). A packet claiming one of our own addresses as its source is spoofed
    // or looped (Linux drops it too, accept_local=0).
    const srcNet = src >>> 24;
    if (
      isMulticastIpv4(src) || host.isBroadcast(src) || srcNet === 127 ||
      (srcNet === 0 && dst !== 0xffffffff) || host.hasAddress(src)
    ) {
      counters.count("drop.ipv4_bad_src");
      return;
    }
    const local = host.hasAddress(dst) || host.isBroadcast(dst) || isMulticastIpv4(dst);
    if (!local) {
      if (!host.forwarding || this.hook === null) {
        counters.count("drop.not_for_us");
        return;
      }
      // RFC 1812 5.3.4: never forward what arrived as a link-layer broadcast/multicast; RFC
      // 1812 5.3.7: never forward to 0/8 or 127/8.
      const dstNet = dst >>> 24;
      if (host.rxLinkGroup || dstNet === 0 || dstNet === 127) {
        counters.count("drop.ipv4_bad_forward");
        return;
      }
      // RFC 1812 5.3.1: a packet that would be forwarded with TTL <= 1 expires here.
      if (v.ttl <= 1) {
        counters.count("drop.ipv4_ttl_exceeded");
        host.sendIcmpError(ICMP_TIME_EXCEEDED, 0, 0, buf, ipOff, ipLen);
        return;
      }
    }
    if (v.isFragment) {
      const r = this.#reassembler;
      if (!r.add(buf, ipOff, v, host.clock.now())) return;
      buf = r.outBuf;
      ipOff = r.outOff;
      ipLen = r.outLen;
      frameOff = -1;
    }
    const hook = this.hook;
    if (hook !== null && hook(buf, frameOff, ipOff, ipLen) === "consumed") {
      counters.add(this.#cConsumed);
      return;
    }
    if (!local) {
      counters.count("drop.not_for_us");
      return;
    }
    this.deliver(buf, ipOff, ipLen);
  }

  /**
   * Local delivery of a whole (reassembled) packet to its protocol's handler; an unknown protocol
   * is counted and answered with ICMP protocol unreachable (RFC 1122 3.2.2.1).
   */
  deliver(buf: Uint8Array, ipOff: number, ipLen: number): void {
    const handler = this.#protocols[buf[ipOff + 9]];
    if (handler === null) {
      this.#host.counters.count("drop.ipv4_unknown_protocol");
      this.#host.sendIcmpError(
        ICMP_DEST_UNREACHABLE,
        ICMP_CODE_PROTO_UNREACHABLE,
        0,
        buf,
        ipOff,
        ipLen,
      );
      return;
    }
    this.#host.counters.add(this.#cDelivered);
    handler(buf, ipOff, ipLen);
  }
}
