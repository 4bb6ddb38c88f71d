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
 * packet. Offloads: a plain frame's partial checksum is completed first; a TCP super-frame is
 * refused (TUN_BAD_OFFLOAD): cutting TCP/IPv6 super-frames (segment.ts does IPv4) is not done.
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
} from "../../stack/wire/virtio_net.ts";
import { copyPacket } from "./copy.ts";
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
   * frame's metadata or null; `reassembled`: the host reassembled it. Returns TUN_SENT, TUN_FRAG_NEEDED (Packet Too Big sent),
   * TUN_SEND_FAILED, TUN_TOO_BIG or TUN_BAD_OFFLOAD (the codes of tun.ts).
   */
  forward(
    buf: Uint8Array,
    ipOff: number,
    len: number,
    real: Uint8Array,
    offload: FrameOffload | null = null,
    reassembled = false,
  ): number {
    if (offload !== null) {
      if (offload.gsoType !== 0) return TUN_BAD_OFFLOAD;
      if (
        (offload.flags & VNET_F_NEEDS_CSUM) !== 0 &&
        !completePartialChecksum(buf, ipOff - ETH_HEADER_LEN, ETH_HEADER_LEN + len, offload)
      ) {
        return TUN_BAD_OFFLOAD;
      }
    }
    const host = this.#host;
    if (len + IPV6_HEADER_LEN > this.#mtu && len > IPV6_MIN_MTU && !reassembled) {
      host.sendError(ICMPV6_PACKET_TOO_BIG, 0, this.#mtu - IPV6_HEADER_LEN, buf, ipOff, len);
      return TUN_FRAG_NEEDED;
    }
    if (len > MAX_PAYLOAD) return TUN_TOO_BIG;
    const tx = this.#tx;
    copyPacket(buf, ipOff, tx, INNER_AT, len);
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
    return host.sendPacket(tx, OUTER_AT, IPV6_HEADER_LEN + len) ? TUN_SENT : TUN_SEND_FAILED;
  }
}
