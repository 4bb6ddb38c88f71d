/**
 * UDP (RFC 768) receive demultiplexing by destination port, over IPv4 and IPv6 (RFC 8200 8.1:
 * the checksum covers the IPv6 pseudo-header and is mandatory). A port with a handler gets the
 * datagram; a port without one answers ICMP (or ICMPv6) port unreachable (RFC 1122 4.1.3.1,
 * RFC 4443 3.1). The two families have a table each, as a Linux socket bound to an IPv4 address
 * and one bound to an IPv6 address can share a port; a dual-stack socket binds both.
 *
 * @module
 */

import type { IcmpErrorSender } from "../net/icmp.ts";
import { UdpView } from "../wire/udp.ts";
import { ICMP_CODE_PORT_UNREACHABLE, ICMP_DEST_UNREACHABLE } from "../wire/icmp.ts";
import { ICMPV6_CODE_PORT_UNREACHABLE, ICMPV6_DEST_UNREACHABLE } from "../wire/icmpv6.ts";
import { readU32 } from "../wire/bytes.ts";
import type { Counters } from "../net/counters.ts";
import type { Ipv6ErrorSender } from "../net/ipv6_host.ts";

/**
 * Receives one datagram: `buf[ipOff .. ipOff+ipLen)` is the whole IPv4 packet and `view` is
 * wrapped on its UDP header and payload (already checked). Valid only during the call.
 */
export type UdpHandler = (buf: Uint8Array, ipOff: number, ipLen: number, view: UdpView) => void;

/**
 * Receives one datagram over IPv6: `buf[ipOff .. end)` is the IPv6 packet and `view` is wrapped
 * on its UDP header and payload (already checked). Valid only during the call.
 */
export type Udp6Handler = (buf: Uint8Array, ipOff: number, end: number, view: UdpView) => void;

/** What the demultiplexer needs from the stack. */
export interface UdpHost extends IcmpErrorSender {
  /** The stack's counters. */
  readonly counters: Counters;
  /**
   * True while the datagram being handled came with a partial or already verified checksum (a
   * TAP with offloads: NEEDS_CSUM or DATA_VALID); absent means false.
   */
  readonly rxChecksumTrusted?: boolean;
  /** IPv6, when the host has it: where ICMPv6 port unreachables go. */
  readonly ipv6?: Ipv6ErrorSender | null;
}

/** UDP receive side: checksum check and dispatch by destination port. */
export class UdpDemux {
  readonly #host: UdpHost;
  readonly #handlers = new Map<number, UdpHandler>();
  readonly #handlers6 = new Map<number, Udp6Handler>();
  readonly #view = new UdpView();

  /** A demultiplexer with no ports bound. */
  constructor(host: UdpHost) {
    this.#host = host;
  }

  /** Binds `port` (1..65535) to `handler`. Throws if the port is taken or out of range. */
  bind(port: number, handler: UdpHandler): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`UDP port ${port} is not in 1..65535`);
    }
    if (this.#handlers.has(port)) throw new Error(`UDP port ${port} is already bound`);
    this.#handlers.set(port, handler);
  }

  /** Releases `port`; true if it was bound. */
  unbind(port: number): boolean {
    return this.#handlers.delete(port);
  }

  /** True when `port` has a handler. */
  isBound(port: number): boolean {
    return this.#handlers.has(port);
  }

  /** {@link bind} for IPv6 datagrams. */
  bind6(port: number, handler: Udp6Handler): void {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`UDP port ${port} is not in 1..65535`);
    }
    if (this.#handlers6.has(port)) throw new Error(`UDP port ${port} is already bound (IPv6)`);
    this.#handlers6.set(port, handler);
  }

  /** Releases an IPv6 `port`; true if it was bound. */
  unbind6(port: number): boolean {
    return this.#handlers6.delete(port);
  }

  /** True when the IPv6 `port` has a handler. */
  isBound6(port: number): boolean {
    return this.#handlers6.has(port);
  }

  /** The bound ports of both families, ascending. */
  ports(): number[] {
    return [...new Set([...this.#handlers.keys(), ...this.#handlers6.keys()])].sort((a, b) =>
      a - b
    );
  }

  /**
   * Local delivery of one IPv4 packet carrying UDP (the stack's protocol handler for 17).
   * Malformed datagrams are dropped and counted by their wire reason; a zero checksum means
   * "not computed" (RFC 768) and is accepted.
   */
  input(buf: Uint8Array, ipOff: number, ipLen: number): void {
    const counters = this.#host.counters;
    const hl = (buf[ipOff] & 0x0f) << 2;
    const v = this.#view.wrap(buf, ipOff + hl, ipLen - hl);
    const reason = v.check();
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    // A zero checksum field means "none computed" (RFC 768); verifyChecksum accepts it. A partial
    // (NEEDS_CSUM) or kernel-verified (DATA_VALID) checksum is not checked again.
    if (
      this.#host.rxChecksumTrusted !== true &&
      !v.verifyChecksum(readU32(buf, ipOff + 12), readU32(buf, ipOff + 16))
    ) {
      counters.count("drop.udp_bad_checksum");
      return;
    }
    const handler = this.#handlers.get(v.dstPort);
    if (handler === undefined) {
      counters.count("drop.udp_no_port");
      this.#host.sendIcmpError(
        ICMP_DEST_UNREACHABLE,
        ICMP_CODE_PORT_UNREACHABLE,
        0,
        buf,
        ipOff,
        ipLen,
      );
      return;
    }
    counters.count("udp.rx_delivered");
    handler(buf, ipOff, ipLen, v);
  }

  /**
   * Local delivery of one IPv6 packet carrying UDP (the IPv6 host's handler for next header 17):
   * `buf[ipOff .. end)`, the UDP header at `upperOff`. A zero checksum is refused (RFC 8200 8.1).
   */
  input6(buf: Uint8Array, ipOff: number, end: number, upperOff: number): void {
    const host = this.#host;
    const counters = host.counters;
    const v = this.#view.wrap(buf, upperOff, end - upperOff);
    const reason = v.check();
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    if (host.rxChecksumTrusted !== true && !v.verifyChecksum6(ipOff + 8, ipOff + 24)) {
      counters.count(v.checksum === 0 ? "drop.udp6_zero_checksum" : "drop.udp_bad_checksum");
      return;
    }
    const handler = this.#handlers6.get(v.dstPort);
    if (handler === undefined) {
      counters.count("drop.udp_no_port");
      portUnreachable6(host.ipv6, buf, ipOff, end);
      return;
    }
    counters.count("udp.rx_delivered");
    handler(buf, ipOff, end, v);
  }
}

/** RFC 4443 3.1: Destination Unreachable, port unreachable, about `buf[ipOff .. end)`. */
export function portUnreachable6(
  ipv6: Ipv6ErrorSender | null | undefined,
  buf: Uint8Array,
  ipOff: number,
  end: number,
): void {
  ipv6?.sendError(
    ICMPV6_DEST_UNREACHABLE,
    ICMPV6_CODE_PORT_UNREACHABLE,
    0,
    buf,
    ipOff,
    end - ipOff,
  );
}
