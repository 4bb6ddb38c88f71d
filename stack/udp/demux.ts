/**
 * Minimal UDP (RFC 768) receive demultiplexing by destination port. A port with a handler gets
 * the datagram; a port without one answers ICMP port unreachable (RFC 1122 4.1.3.1). The socket
 * API comes later and will bind through the same table.
 *
 * @module
 */

import type { IcmpErrorSender } from "../net/icmp.ts";
import { UdpView } from "../wire/udp.ts";
import { ICMP_CODE_PORT_UNREACHABLE, ICMP_DEST_UNREACHABLE } from "../wire/icmp.ts";
import { readU32 } from "../wire/bytes.ts";
import type { Counters } from "../net/counters.ts";

/**
 * Receives one datagram: `buf[ipOff .. ipOff+ipLen)` is the whole IPv4 packet and `view` is
 * wrapped on its UDP header and payload (already checked). Valid only during the call.
 */
export type UdpHandler = (buf: Uint8Array, ipOff: number, ipLen: number, view: UdpView) => void;

/** What the demultiplexer needs from the stack. */
export interface UdpHost extends IcmpErrorSender {
  /** The stack's counters. */
  readonly counters: Counters;
  /**
   * True while the datagram being handled came with a partial or already verified checksum (a
   * TAP with offloads: NEEDS_CSUM or DATA_VALID); absent means false.
   */
  readonly rxChecksumTrusted?: boolean;
}

/** UDP receive side: checksum check and dispatch by destination port. */
export class UdpDemux {
  readonly #host: UdpHost;
  readonly #handlers = new Map<number, UdpHandler>();
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

  /** The bound ports, ascending. */
  ports(): number[] {
    return [...this.#handlers.keys()].sort((a, b) => a - b);
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
}
