/**
 * IP-in-IP decapsulation (RFC 2003) for a host: the protocol 4 handler that a TUN real server
 * needs. The balancer (lb/forward/tun.ts) wraps the client's datagram, still addressed to the
 * VIP, in an outer header addressed to the real server; here the outer header is stripped and the
 * inner datagram goes through IPv4 input again as if it had arrived on the link, the way Linux's
 * `tunl0` hands it back to `ip_rcv`. The inner datagram is then delivered when its destination is
 * an address the host holds (typically a VIP added with `addAddress(vip, { arp: false })`).
 *
 * Rules (RFC 2003 section 3): the inner datagram is validated by IPv4 input like any other; an
 * inner datagram that is itself IP-in-IP is dropped (no nested tunnels, so a packet cannot make
 * the host loop); an inner fragment is copied out before reassembly, because the outer datagram
 * may itself live in the reassembler's output buffer.
 *
 * @module
 */

import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import { IP_PROTO_IPIP, IPV4_MIN_HEADER_LEN } from "../wire/ipv4.ts";
import type { Counters } from "./counters.ts";

/** Largest IPv4 datagram. */
const MAX_DATAGRAM = 0xffff;

/** Feeds one IPv4 datagram `buf[ipOff .. ipOff+len)` to IPv4 input (no Ethernet frame). */
export type Ipv4Reinput = (buf: Uint8Array, ipOff: number, len: number) => void;

/** The protocol 4 handler: strips the outer header and hands the inner datagram back. */
export class IpipInput {
  readonly #counters: Counters;
  readonly #reinput: Ipv4Reinput;
  /** Copy of an inner fragment, with Ethernet headroom (allocated on first use). */
  #copy: Uint8Array | null = null;
  /** True while an inner datagram is being handled (a nested tunnel is refused). */
  #inside = false;

  /** Decapsulation that hands inner datagrams to `reinput` and counts into `counters`. */
  constructor(counters: Counters, reinput: Ipv4Reinput) {
    this.#counters = counters;
    this.#reinput = reinput;
  }

  /**
   * Handles one IP-in-IP datagram addressed to us, `buf[ipOff .. ipOff+ipLen)` (already validated
   * and reassembled by IPv4 input). Counts "ipip.rx_decapsulated", or a drop reason.
   */
  input(buf: Uint8Array, ipOff: number, ipLen: number): void {
    const counters = this.#counters;
    if (this.#inside) {
      counters.count("drop.ipip_nested");
      return;
    }
    const hl = (buf[ipOff] & 0x0f) << 2;
    const innerOff = ipOff + hl;
    const innerLen = ipLen - hl;
    if (innerLen < IPV4_MIN_HEADER_LEN) {
      counters.count("drop.ipip_truncated");
      return;
    }
    if (buf[innerOff + 9] === IP_PROTO_IPIP) {
      counters.count("drop.ipip_nested");
      return;
    }
    counters.count("ipip.rx_decapsulated");
    this.#inside = true;
    try {
      // MF set or a non-zero offset: reassembly will copy from this buffer, which may be the
      // reassembler's own output buffer; hand it a private copy instead.
      const fragment = ((buf[innerOff + 6] & 0x3f) | buf[innerOff + 7]) !== 0;
      if (fragment) {
        const copy = this.#copy ??= new Uint8Array(ETH_HEADER_LEN + MAX_DATAGRAM);
        copy.set(buf.subarray(innerOff, innerOff + innerLen), ETH_HEADER_LEN);
        this.#reinput(copy, ETH_HEADER_LEN, innerLen);
      } else {
        this.#reinput(buf, innerOff, innerLen);
      }
    } finally {
      this.#inside = false;
    }
  }
}
