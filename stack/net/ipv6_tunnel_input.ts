/**
 * IPv6-in-IPv6 decapsulation (RFC 2473) for a host: the next header 41 handler a TUN real server
 * of an IPv6 service needs, as ipip_input.ts is for IPv4. The balancer (lb/forward/tun6.ts) wraps
 * the client's packet, still addressed to the VIP, in an outer IPv6 header addressed to the real
 * server; here the outer header (and any extension headers the host walked) is stripped and the
 * inner packet goes through IPv6 input again, as Linux's `ip6tnl0` hands it back to `ipv6_rcv`.
 * The inner packet is then delivered when its destination is an address the host holds (a VIP
 * added with `addAddress(vip, 128, { nd: false })`).
 *
 * Rules (RFC 2473 3, 4): the inner packet is validated by IPv6 input like any other; an inner
 * packet that is itself IPv6-in-IPv6 is dropped (no nested tunnels: a packet cannot make the host
 * loop; RFC 2473 4 bounds nesting with an option this host does not need); an inner fragment is
 * copied out first, because the outer packet may live in the reassembler's output buffer.
 *
 * @module
 */

import { ETH_HEADER_LEN } from "../wire/ethernet.ts";
import { IPV6_FRAGMENT, IPV6_HEADER_LEN, IPV6_NH_IPV6 } from "../wire/ipv6.ts";
import type { Counters } from "./counters.ts";
import type { Ipv6Host } from "./ipv6_host.ts";

/** Largest IPv6 packet without a jumbogram. */
const MAX_PACKET = IPV6_HEADER_LEN + 0xffff;

/** The next header 41 handler: strips the outer header, hands the inner packet back to input. */
export class Ipv6TunnelInput {
  readonly #counters: Counters;
  readonly #reinput: (buf: Uint8Array, ipOff: number, len: number) => void;
  /** Copy of an inner fragment, with Ethernet headroom (allocated on first use). */
  #copy: Uint8Array | null = null;
  /** True while an inner packet is being handled (a nested tunnel is refused). */
  #inside = false;

  /** Decapsulation feeding inner packets to `reinput`, counting into `counters`. */
  constructor(counters: Counters, reinput: (buf: Uint8Array, ipOff: number, len: number) => void) {
    this.#counters = counters;
    this.#reinput = reinput;
  }

  /**
   * One packet with next header 41 addressed to us: the inner packet is `buf[innerOff .. end)`.
   * Counts "ip6tnl.rx_decapsulated", or a drop reason.
   */
  input(buf: Uint8Array, innerOff: number, end: number): void {
    const counters = this.#counters;
    const len = end - innerOff;
    if (this.#inside || (len >= IPV6_HEADER_LEN && buf[innerOff + 6] === IPV6_NH_IPV6)) {
      counters.count("drop.ip6tnl_nested");
      return;
    }
    if (len < IPV6_HEADER_LEN || (buf[innerOff] >> 4) !== 6) {
      counters.count("drop.ip6tnl_bad_inner");
      return;
    }
    counters.count("ip6tnl.rx_decapsulated");
    this.#inside = true;
    try {
      if (buf[innerOff + 6] === IPV6_FRAGMENT) {
        const copy = this.#copy ??= new Uint8Array(ETH_HEADER_LEN + MAX_PACKET);
        copy.set(buf.subarray(innerOff, end), ETH_HEADER_LEN);
        this.#reinput(copy, ETH_HEADER_LEN, len);
      } else {
        this.#reinput(buf, innerOff, len);
      }
    } finally {
      this.#inside = false;
    }
  }
}

/**
 * Makes `ipv6` accept IPv6-in-IPv6 addressed to it (a TUN real server's side); returns the
 * handler. Additive: it only registers next header 41.
 */
export function acceptIpv6Tunnel(ipv6: Ipv6Host, counters: Counters): Ipv6TunnelInput {
  const t = new Ipv6TunnelInput(counters, (b, o, l) => ipv6.input(b, o, l));
  ipv6.setProtocol(IPV6_NH_IPV6, (b, _ipOff, end, upperOff) => t.input(b, upperOff, end));
  return t;
}
