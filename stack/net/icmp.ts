/**
 * ICMP for a host (RFC 792, RFC 1122 3.2.2): echo replies, the errors the stack generates
 * (protocol/port unreachable, fragmentation needed, time exceeded) under RFC 1122's rules and a
 * token-bucket rate limit (RFC 1812 4.3.2.8), and the receive side of ping.
 *
 * @module
 */

import { isMulticastIpv4 } from "../wire/address.ts";
import { readU16, readU32 } from "../wire/bytes.ts";
import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import {
  ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY,
  ICMP_ECHO_REQUEST,
  ICMP_TIME_EXCEEDED,
  IcmpView,
  writeIcmpEcho,
  writeIcmpError,
} from "../wire/icmp.ts";
import { IP_PROTO_ICMP, writeIpv4Header } from "../wire/ipv4.ts";
import type { Ipv4Header } from "../wire/ipv4.ts";
import type { Clock } from "../clock.ts";
import type { Counters } from "./counters.ts";
import { TokenBucket } from "./token_bucket.ts";

/** Largest IPv4 datagram. */
const MAX_DATAGRAM = 65535;
/**
 * An ICMP error datagram is at most 576 bytes (RFC 1812 4.3.2.3: as much of the original as fits
 * without exceeding 576; RFC 792 asks for at least the header and 64 bits).
 */
const MAX_ERROR_DATAGRAM = 576;
const IP_HEADER = 20;
const ICMP_HEADER = 8;

/** ICMP types that are errors (RFC 792, RFC 1122 3.2.2): no error is ever sent about these. */
function isIcmpError(type: number): boolean {
  // Destination unreachable, source quench, redirect, time exceeded, parameter problem.
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

/** Anything that can send an ICMP error about a packet: the Stack, seen from the layers. */
export interface IcmpErrorSender {
  /**
   * Sends an ICMP error (`type`, `code`, the 32-bit rest of the header) quoting the packet
   * `buf[ipOff .. ipOff+ipLen)`; RFC 1122 3.2.2 rules and the rate limit apply. False when not
   * sent.
   */
  sendIcmpError(
    type: number,
    code: number,
    restOfHeader: number,
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
  ): boolean;
}

/** Tunables for the ICMP error rate limit (Linux: icmp_msgs_per_sec 1000, icmp_msgs_burst 50). */
export interface IcmpOptions {
  /** Error messages per second, sustained. */
  errorsPerSec?: number;
  /** Error messages allowed in a burst. */
  errorBurst?: number;
}

/** What ICMP needs from the stack. */
export interface IcmpHost {
  readonly counters: Counters;
  readonly clock: Clock;
  /** Default TTL of generated datagrams. */
  readonly ttl: number;
  /** The interface address (source of errors about packets not addressed to us). */
  readonly address: number;
  hasAddress(addr: number): boolean;
  isBroadcast(addr: number): boolean;
  /** True while handling a frame that arrived as a link-layer broadcast or multicast. */
  readonly rxLinkGroup: boolean;
  /** A fresh IPv4 identification for a datagram we build. */
  nextIpId(): number;
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number): boolean;
}

/** Called for every echo reply addressed to us (ping's receive side). */
export type EchoReplyHandler = (
  from: number,
  ttl: number,
  id: number,
  seq: number,
  icmpLen: number,
) => void;

/** Called for every valid ICMP error addressed to us (for TCP, PMTU discovery, ...). */
export type IcmpErrorHandler = (
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  view: IcmpView,
) => void;

/** ICMP input and output. */
export class Icmp {
  readonly #host: IcmpHost;
  readonly #view = new IcmpView();
  readonly #bucket: TokenBucket;
  /** Echo replies are built here: headroom + the largest datagram. */
  readonly #echoTx = new Uint8Array(ETH_HEADER_LEN + MAX_DATAGRAM);
  /** Errors are built here. */
  readonly #errorTx = new Uint8Array(ETH_HEADER_LEN + MAX_ERROR_DATAGRAM);
  /** Reused header description (no object per reply). */
  readonly #h: Ipv4Header = {
    src: 0,
    dst: 0,
    protocol: IP_PROTO_ICMP,
    ttl: 64,
    id: 0,
    tos: 0,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
    payloadLen: 0,
  };
  /** Ping's receive side; set by the stack. */
  onEchoReply: EchoReplyHandler | null = null;
  /** Listeners for received ICMP errors (none by default). */
  onError: IcmpErrorHandler | null = null;

  /** ICMP for `host`. */
  constructor(host: IcmpHost, options: IcmpOptions = {}) {
    this.#host = host;
    this.#bucket = new TokenBucket(
      host.clock,
      options.errorsPerSec ?? 1000,
      options.errorBurst ?? 50,
    );
  }

  /**
   * Local delivery of an ICMP packet `buf[ipOff .. ipOff+ipLen)` (the protocol 1 handler). Each
   * packet ends in one counter: "icmp.rx_echo_requests", "icmp.rx_echo_replies", "icmp.rx_errors",
   * "icmp.rx_other", "icmp.echo_broadcast_ignored" or a drop reason.
   */
  input(buf: Uint8Array, ipOff: number, ipLen: number): void {
    const host = this.#host;
    const counters = host.counters;
    const hl = (buf[ipOff] & 0x0f) << 2;
    const icmpOff = ipOff + hl;
    const icmpLen = ipLen - hl;
    const v = this.#view.wrap(buf, icmpOff, icmpLen);
    const reason = v.check(); // length and checksum over the whole message
    if (reason !== null) {
      counters.drop(reason);
      return;
    }
    const type = v.type;
    if (type === ICMP_ECHO_REQUEST) {
      const dst = readU32(buf, ipOff + 16);
      // Like Linux's icmp_echo_ignore_broadcasts=1 (RFC 1122 3.2.2.6 makes answering optional):
      // answering broadcasts makes the host a smurf amplifier. 127/8 is the host's own (RFC 1122
      // 3.2.1.3): only the loopback delivers it (ipv4_input.ts drops it from the wire), so a
      // `ping 127.0.0.1` is answered as on Linux.
      if (!host.hasAddress(dst) && (dst >>> 24) !== 127) {
        counters.count("icmp.echo_broadcast_ignored");
        return;
      }
      counters.count("icmp.rx_echo_requests");
      this.#echoReply(buf, ipOff, dst, v);
      return;
    }
    if (type === ICMP_ECHO_REPLY) {
      counters.count("icmp.rx_echo_replies");
      if (this.onEchoReply !== null) {
        this.onEchoReply(
          readU32(buf, ipOff + 12),
          buf[ipOff + 8],
          v.identifier,
          v.sequence,
          icmpLen,
        );
      }
      return;
    }
    if (isIcmpError(type)) {
      counters.count("icmp.rx_errors");
      if (this.onError !== null) this.onError(buf, ipOff, ipLen, v);
      return;
    }
    counters.count("icmp.rx_other");
  }

  /**
   * RFC 1122 3.2.2.6: the reply carries the request's identifier, sequence and all its data, and
   * its source is the address the request was sent to.
   */
  #echoReply(buf: Uint8Array, ipOff: number, dst: number, v: IcmpView): void {
    const host = this.#host;
    const tx = this.#echoTx;
    const payloadLen = v.payloadLen;
    const h = this.#h;
    h.src = dst;
    h.dst = readU32(buf, ipOff + 12);
    h.ttl = host.ttl;
    h.id = host.nextIpId();
    h.tos = buf[ipOff + 1];
    h.dontFragment = false;
    h.payloadLen = ICMP_HEADER + payloadLen;
    const hl = writeIpv4Header(tx, ETH_HEADER_LEN, h);
    writeIcmpEcho(
      tx,
      ETH_HEADER_LEN + hl,
      ICMP_ECHO_REPLY,
      v.identifier,
      v.sequence,
      buf,
      v.payloadOffset,
      payloadLen,
    );
    if (host.sendIpv4(tx, ETH_HEADER_LEN, hl + ICMP_HEADER + payloadLen)) {
      host.counters.count("icmp.echo_replies_sent");
    }
  }

  /**
   * Sends an ICMP error about the packet `buf[ipOff .. ipOff+ipLen)` (type, code and the 32-bit
   * rest of the header: unused, a pointer, or next-hop MTU for fragmentation needed), quoting
   * as much of it as fits in 576 bytes. Refuses, per RFC 1122 3.2.2, errors about: an ICMP error,
   * a datagram sent to a broadcast or multicast address or as a link-layer broadcast, a
   * fragment other than the first, a source that is not a single host; and beyond the rate
   * limit. Returns true when the error was sent.
   */
  sendError(
    type: number,
    code: number,
    restOfHeader: number,
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
  ): boolean {
    const host = this.#host;
    const counters = host.counters;
    if (ipLen < IP_HEADER) {
      counters.count("icmp.error_suppressed");
      return false;
    }
    const hl = (buf[ipOff] & 0x0f) << 2;
    const src = readU32(buf, ipOff + 12);
    const dst = readU32(buf, ipOff + 16);
    const fragOffset = readU16(buf, ipOff + 6) & 0x1fff;
    if (
      host.rxLinkGroup || host.isBroadcast(dst) || isMulticastIpv4(dst) || fragOffset !== 0 ||
      !isUnicastSource(src) || host.isBroadcast(src) ||
      (buf[ipOff + 9] === IP_PROTO_ICMP && (ipLen <= hl || isIcmpError(buf[ipOff + hl])))
    ) {
      counters.count("icmp.error_suppressed");
      return false;
    }
    if (!this.#bucket.take()) {
      counters.count("icmp.error_rate_limited");
      return false;
    }
    const maxQuoted = MAX_ERROR_DATAGRAM - IP_HEADER - ICMP_HEADER;
    const quoted = ipLen < maxQuoted ? ipLen : maxQuoted;
    const h = this.#h;
    h.src = host.hasAddress(dst) ? dst : host.address;
    h.dst = src;
    h.ttl = host.ttl;
    h.id = host.nextIpId();
    h.tos = 0;
    h.dontFragment = false;
    h.payloadLen = ICMP_HEADER + quoted;
    const tx = this.#errorTx;
    const ohl = writeIpv4Header(tx, ETH_HEADER_LEN, h);
    writeIcmpError(tx, ETH_HEADER_LEN + ohl, type, code, restOfHeader, buf, ipOff, quoted);
    if (!host.sendIpv4(tx, ETH_HEADER_LEN, ohl + ICMP_HEADER + quoted)) return false;
    counters.count(
      type === ICMP_DEST_UNREACHABLE
        ? "icmp.tx_dest_unreachable"
        : type === ICMP_TIME_EXCEEDED
        ? "icmp.tx_time_exceeded"
        : "icmp.tx_errors_other",
    );
    return true;
  }
}

/**
 * RFC 1122 3.2.2 (and 3.2.1.3): the source must name a single host: not 0.0.0.0, not loopback
 * (127/8), not multicast (224/4), not reserved class E (240/4, which holds 255.255.255.255).
 */
function isUnicastSource(src: number): boolean {
  const top = src >>> 24;
  return src !== 0 && top !== 127 && top < 224;
}
