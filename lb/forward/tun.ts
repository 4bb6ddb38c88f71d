/**
 * IP-in-IP tunnelling (ipvsadm `-i`, IPVS `ip_vs_tunnel_xmit`, RFC 2003): the client's datagram,
 * unchanged and still addressed to the VIP, is wrapped in an outer IPv4 header from the
 * balancer's address to the real server, which decapsulates it (Linux: `tunl0`; here
 * stack/net/ipip_input.ts) and answers the client directly. Real servers may be anywhere
 * routable, not only on the balancer's link.
 *
 * Outer header (RFC 2003 3.1): protocol 4; TOS copied from the inner header; DF copied from the
 * inner header, so path MTU discovery keeps working end to end; TTL copied from the inner header
 * as IPVS does (`ip_vs_prepare_tunneled_skb`); a fresh identification.
 *
 * Too big: the outer datagram is 20 bytes longer than the client's. When that exceeds the MTU
 * and the inner DF is set, the packet is dropped and the client gets ICMP fragmentation needed
 * with next-hop MTU = MTU - 20 (RFC 1191), exactly what `ip_vs_tunnel_xmit` does; without DF the
 * outer datagram is fragmented by the stack (RFC 2003 5.1) and reassembled by the real server.
 * These ICMP errors (and ARP) are the only packets the balancer originates.
 *
 * The datagram is copied once into a preallocated transmit buffer (the receive buffer has no
 * room for 20 more bytes in front); nothing is allocated per packet.
 *
 * Offloads (stack/link/offload.ts): virtio has no GSO type for IP-in-IP, so a TCP super-frame
 * from a TAP with offloads is cut into `gso_size` segments in software (segment.ts), each
 * tunnelled on its own with complete checksums; the frag-needed rule applies to one segment.
 * A plain frame with a partial checksum (NEEDS_CSUM) gets it completed first: the real server
 * decapsulates and checks the inner datagram as it is.
 *
 * @module
 */

import { ETH_HEADER_LEN } from "../../stack/wire/ethernet.ts";
import { ICMP_CODE_FRAG_NEEDED, ICMP_DEST_UNREACHABLE } from "../../stack/wire/icmp.ts";
import { IPIP_OVERHEAD, writeIpipHeader } from "../../stack/wire/ipip.ts";
import {
  completePartialChecksum,
  type FrameOffload,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_ECN,
  VNET_GSO_TCPV4,
} from "../../stack/wire/virtio_net.ts";
import { copyPacket } from "./copy.ts";
import type { ForwardHost } from "./host.ts";
import { writeTcpSegment } from "./segment.ts";

/** The datagram was encapsulated and sent (or queued for ARP). */
export const TUN_SENT = 0;
/** DF was set and it would not fit: ICMP fragmentation needed went to the client (rate limit). */
export const TUN_FRAG_NEEDED = 1;
/** The stack refused the outer datagram (no route, device full; counted by the stack). */
export const TUN_SEND_FAILED = 2;
/** Inner datagram + 20 bytes exceeds the largest IPv4 datagram (a reassembled giant). */
export const TUN_TOO_BIG = 3;
/** The offload metadata does not fit the datagram (not TCP/IPv4, no segment size, bad range). */
export const TUN_BAD_OFFLOAD = 4;

/** Largest IPv4 datagram. */
const MAX_DATAGRAM = 0xffff;
/**
 * Where the frame starts in the transmit buffer: 18, so the outer IP header (at 32) and the
 * inner datagram (at 52) are 4-byte aligned for the word copy and for checksum code, and a TAP
 * with offloads finds 10 bytes of headroom for its header (no copy).
 */
const FRAME_AT = 18;
const OUTER_AT = FRAME_AT + ETH_HEADER_LEN;
const INNER_AT = OUTER_AT + IPIP_OVERHEAD;

/** Encapsulates client datagrams toward real servers; one per balancer. */
export class TunnelForwarder {
  readonly #host: ForwardHost;
  /** Headroom + outer header + the largest inner datagram, reused for every packet. */
  readonly #tx = new Uint8Array(INNER_AT + MAX_DATAGRAM);

  /** A forwarder sending through `host`. */
  constructor(host: ForwardHost) {
    this.#host = host;
  }

  /**
   * Tunnels `buf[ipOff .. ipOff+ipLen)` to `realIp`. `offload` is the metadata the frame came
   * with (null for a plain frame; its Ethernet header is the 14 bytes before `ipOff`). Returns
   * TUN_SENT, TUN_FRAG_NEEDED, TUN_SEND_FAILED, TUN_TOO_BIG or TUN_BAD_OFFLOAD.
   */
  forward(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    realIp: number,
    offload: FrameOffload | null = null,
  ): number {
    if (offload !== null) {
      if (offload.gsoType !== 0) return this.#segmented(buf, ipOff, ipLen, realIp, offload);
      if (
        (offload.flags & VNET_F_NEEDS_CSUM) !== 0 &&
        !completePartialChecksum(buf, ipOff - ETH_HEADER_LEN, ETH_HEADER_LEN + ipLen, offload)
      ) {
        return TUN_BAD_OFFLOAD;
      }
    }
    const host = this.#host;
    const df = (buf[ipOff + 6] & 0x40) !== 0;
    if (ipLen + IPIP_OVERHEAD > host.mtu && df) return this.#fragNeeded(buf, ipOff, ipLen);
    if (ipLen + IPIP_OVERHEAD > MAX_DATAGRAM) return TUN_TOO_BIG;
    const tx = this.#tx;
    copyPacket(buf, ipOff, tx, INNER_AT, ipLen);
    writeIpipHeader(
      tx,
      OUTER_AT,
      host.address,
      realIp,
      ipLen,
      buf[ipOff + 8],
      host.nextIpId(),
      df,
      buf[ipOff + 1],
    );
    return host.sendIpv4(tx, OUTER_AT, IPIP_OVERHEAD + ipLen) ? TUN_SENT : TUN_SEND_FAILED;
  }

  /**
   * ip_vs_tunnel_xmit: icmp_send(skb, ICMP_DEST_UNREACH, ICMP_FRAG_NEEDED, htonl(mtu)), with
   * mtu = the route's MTU minus the outer header (RFC 1191: next-hop MTU in the low 16 bits of
   * the rest-of-header word), quoting `buf[ipOff .. ipOff+ipLen)`.
   */
  #fragNeeded(buf: Uint8Array, ipOff: number, ipLen: number): number {
    const host = this.#host;
    host.sendIcmpError(
      ICMP_DEST_UNREACHABLE,
      ICMP_CODE_FRAG_NEEDED,
      (host.mtu - IPIP_OVERHEAD) & 0xffff,
      buf,
      ipOff,
      ipLen,
    );
    return TUN_FRAG_NEEDED;
  }

  /**
   * A TCP super-frame: cut into `gsoSize` segments (segment.ts), each tunnelled. DF and the
   * next-hop MTU are judged on the largest segment, as the kernel does for GSO packets
   * (skb_gso_validate_network_len); the ICMP error quotes the super-frame's headers.
   */
  #segmented(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    realIp: number,
    offload: FrameOffload,
  ): number {
    const host = this.#host;
    const mss = offload.gsoSize;
    const hl = (buf[ipOff] & 0x0f) << 2;
    if (
      (offload.gsoType & ~VNET_GSO_ECN) !== VNET_GSO_TCPV4 || buf[ipOff + 9] !== 6 || mss === 0 ||
      hl + 20 > ipLen
    ) {
      return TUN_BAD_OFFLOAD;
    }
    const headers = hl + ((buf[ipOff + hl + 12] >>> 4) << 2);
    const payload = ipLen - headers;
    if (headers - hl < 20 || payload < 0) return TUN_BAD_OFFLOAD;
    const segMax = headers + (payload < mss ? payload : mss);
    const df = (buf[ipOff + 6] & 0x40) !== 0;
    if (segMax + IPIP_OVERHEAD > host.mtu && df) return this.#fragNeeded(buf, ipOff, ipLen);
    if (segMax + IPIP_OVERHEAD > MAX_DATAGRAM) return TUN_TOO_BIG;
    const tx = this.#tx;
    const ttl = buf[ipOff + 8];
    const tos = buf[ipOff + 1];
    let ok = true;
    // One segment per `mss` payload bytes: at most 65535 / mss iterations (mss > 0).
    for (let from = 0, i = 0; from < payload || i === 0; from += mss, i++) {
      const rest = payload - from;
      const last = rest <= mss;
      const len = writeTcpSegment(buf, ipOff, from, last ? rest : mss, i, last, tx, INNER_AT);
      writeIpipHeader(tx, OUTER_AT, host.address, realIp, len, ttl, host.nextIpId(), df, tos);
      if (!host.sendIpv4(tx, OUTER_AT, IPIP_OVERHEAD + len)) ok = false;
    }
    return ok ? TUN_SENT : TUN_SEND_FAILED;
  }
}
