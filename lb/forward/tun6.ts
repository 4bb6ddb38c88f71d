/**
 * IPv6-in-IPv6 tunnelling for IPv6 services (ipvsadm `-i`, IPVS `ip_vs_tunnel_xmit_v6`,
 * RFC 2473): the client's packet, unchanged and still addressed to the VIP, is wrapped in an
 * outer IPv6 header (next header 41) from the balancer's address to the real server, which
 * decapsulates it (Linux: `ip6tnl0`; here stack/net/ipv6_tunnel_input.ts) and answers the client
 * directly.
 *
 * Outer header: traffic class, flow label and hop limit copied from the inner packet, as IPVS does
 * (RFC 2473 6.3 lets the entry point choose them; copying keeps ECN and flow hashing). No tunnel
 * encapsulation limit option (RFC 2473 4.1.1: optional).
 *
 * Too big (RFC 2473 7.1): the outer packet is 40 bytes longer. When that exceeds the link MTU and
 * the inner packet is larger than the IPv6 minimum MTU (1280), the packet is dropped and the
 * client gets ICMPv6 Packet Too Big with MTU = link MTU - 40; a smaller inner packet is sent and
 * the outer packet fragmented by the stack (RFC 2473 7.1, RFC 8200 4.5), reassembled by the real
 * server. So is a packet the host reassembled from the client's fragments (`reassembled`): its
 * source has already fitted it to the path, and a Packet Too Big would only repeat itself (IPVS
 * judges such a packet by its largest fragment, `__mtu_check_toobig_v6`).
 *
 * The packet is copied once into a preallocated transmit buffer; nothing is allocated per
 * packet. Offloads, as tun.ts: a plain frame's partial checksum is completed first; a TCP/IPv6
 * super-frame (virtio has no IPv6-in-IPv6 GSO type) is cut into `gso_size` segments in software
 * (segment.ts), each tunnelled on its own, the Packet Too Big rule judged on one segment.
 *
 * @module
 */

import { ETH_HEADER_LEN } from "../../stack/wire/ethernet.ts";
import { ICMPV6_PACKET_TOO_BIG } from "../../stack/wire/icmpv6.ts";
import { IPV6_HEADER_LEN, IPV6_MIN_MTU, IPV6_NH_IPV6 } from "../../stack/wire/ipv6.ts";
import {
  completePartialChecksum,
  type FrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_TCPV6,
} from "../../stack/wire/virtio_net.ts";
import { copyPacket } from "./copy.ts";
import { writeTcp6Segment } from "./segment.ts";
import { TUN_BAD_OFFLOAD, TUN_FRAG_NEEDED, TUN_SEND_FAILED, TUN_SENT, TUN_TOO_BIG } from "./tun.ts";

/** What the IPv6 tunnel needs from the stack (stack/net/ipv6_host.ts's `Ipv6Host` has it). */
export interface Tunnel6Host {
  /** Routes and sends an IPv6 packet with 14 bytes of headroom (fragmenting past the MTU). */
  sendPacket(buf: Uint8Array, ipOff: number, len: number, offload?: FrameOffload | null): boolean;
  /** Sends a rate-limited ICMPv6 error about a received packet. */
  sendError(
    type: number,
    code: number,
    param: number,
    buf: Uint8Array,
    ipOff: number,
    len: number,
  ): boolean;
  /** Our address to send from toward `buf[off ..+16)`. */
  sourceFor(buf: Uint8Array, off?: number): Uint8Array;
}

/** Largest IPv6 payload without a jumbogram (RFC 8200 3). */
const MAX_PAYLOAD = 0xffff;
/** Frame start in the transmit buffer: the outer header at 32, the inner packet at 72. */
const FRAME_AT = 18;
const OUTER_AT = FRAME_AT + ETH_HEADER_LEN;
const INNER_AT = OUTER_AT + IPV6_HEADER_LEN;

/** Encapsulates IPv6 client packets toward real servers; one per balancer. */
export class Tunnel6Forwarder {
  readonly #host: Tunnel6Host;
  readonly #mtu: number;
  readonly #tx = new Uint8Array(INNER_AT + MAX_PAYLOAD);

  /** A forwarder sending through `host` over a link of `mtu` bytes. */
  constructor(host: Tunnel6Host, mtu: number) {
    this.#host = host;
    this.#mtu = mtu;
  }

  /**
   * Tunnels `buf[ipOff .. ipOff+len)` to the real server `real[0..16)`. `offload`: the received
   * frame's metadata or null; `reassembled`: the host reassembled it; `l4Off`: where its
   * upper-layer header starts (after any extension headers; needed for a super-frame). Returns TUN_SENT, TUN_FRAG_NEEDED (Packet Too Big sent),
   * TUN_SEND_FAILED, TUN_TOO_BIG or TUN_BAD_OFFLOAD (the codes of tun.ts).
   */
  forward(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    real: Uint8Array,
    offload: FrameOffload | null = null,
    reassembled = false,
    l4Off = ipOff + IPV6_HEADER_LEN,
  ): number {
    if (offload !== null) {
      if (offload.gsoType !== 0) return this.#segmented(buf, ipOff, len, l4Off, real, offload);
      if (
        (offload.flags & VNET_F_NEEDS_CSUM) !== 0 &&
        !completePartialChecksum(buf, ipOff - ETH_HEADER_LEN, ETH_HEADER_LEN + len, offload)
      ) {
        return TUN_BAD_OFFLOAD;
      }
    }
    if (len + IPV6_HEADER_LEN > this.#mtu && len > IPV6_MIN_MTU && !reassembled) {
      return this.#tooBig(buf, ipOff, len);
    }
    if (len > MAX_PAYLOAD) return TUN_TOO_BIG;
    copyPacket(buf, ipOff, this.#tx, INNER_AT, len);
    return this.#send(buf, ipOff, len, real) ? TUN_SENT : TUN_SEND_FAILED;
  }

  /** RFC 2473 7.1: Packet Too Big to the client, MTU = the tunnel's (link MTU - 40). */
  #tooBig(buf: Uint8Array, ipOff: number, len: number): number {
    this.#host.sendError(ICMPV6_PACKET_TOO_BIG, 0, this.#mtu - IPV6_HEADER_LEN, buf, ipOff, len);
    return TUN_FRAG_NEEDED;
  }

  /**
   * Writes the outer header before the inner packet already in the transmit buffer (`len`
   * bytes, its header copied from `buf[ipOff ..]`) and sends it to `real`.
   */
  #send(buf: Uint8Array, ipOff: number, len: number, real: Uint8Array): boolean {
    const tx = this.#tx;
    const host = this.#host;
    // Version 6, the inner traffic class and flow label (the first word after the version).
    tx[OUTER_AT] = 0x60 | (buf[ipOff] & 0x0f);
    tx[OUTER_AT + 1] = buf[ipOff + 1];
    tx[OUTER_AT + 2] = buf[ipOff + 2];
    tx[OUTER_AT + 3] = buf[ipOff + 3];
    tx[OUTER_AT + 4] = len >>> 8;
    tx[OUTER_AT + 5] = len & 0xff;
    tx[OUTER_AT + 6] = IPV6_NH_IPV6;
    tx[OUTER_AT + 7] = buf[ipOff + 7];
    tx.set(host.sourceFor(real, 0), OUTER_AT + 8);
    tx.set(real, OUTER_AT + 24);
    return host.sendPacket(tx, OUTER_AT, IPV6_HEADER_LEN + len);
  }

  /**
   * A TCP/IPv6 super-frame: cut into `gsoSize` segments (segment.ts), each tunnelled. The Packet
   * Too Big rule is judged on the largest segment, as the kernel does for GSO packets.
   */
  #segmented(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    l4Off: number,
    real: Uint8Array,
    offload: FrameOffload,
  ): number {
    const mss = offload.gsoSize;
    const hl = l4Off - ipOff;
    if (
      (offload.gsoType & ~VNET_GSO_ECN) !== VNET_GSO_TCPV6 || mss === 0 || hl < IPV6_HEADER_LEN ||
      hl + 20 > len
    ) {
      return TUN_BAD_OFFLOAD;
    }
    const thl = (buf[l4Off + 12] >>> 4) << 2;
    const headers = hl + thl;
    const payload = len - headers;
    if (thl < 20 || payload < 0) return TUN_BAD_OFFLOAD;
    const segMax = headers + (payload < mss ? payload : mss);
    if (segMax + IPV6_HEADER_LEN > this.#mtu && segMax > IPV6_MIN_MTU) {
      return this.#tooBig(buf, ipOff, len);
    }
    if (segMax > MAX_PAYLOAD) return TUN_TOO_BIG;
    let ok = true;
    // One segment per `mss` payload bytes: at most 65535 / mss iterations (mss > 0).
    for (let from = 0, i = 0; from < payload || i === 0; from += mss, i++) {
      const rest = payload - from;
      const last = rest <= mss;
      const n = writeTcp6Segment(
        buf,
        ipOff,
        l4Off,
        from,
        last ? rest : mss,
        i,
        last,
        this.#tx,
        INNER_AT,
      );
      if (!this.#send(buf, ipOff, n, real)) ok = false;
    }
    return ok ? TUN_SENT : TUN_SEND_FAILED;
  }
}
