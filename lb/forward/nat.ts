/**
 * NAT (ipvsadm `-m`, IPVS `ip_vs_nat_xmit` and the SNAT of replies in `ip_vs_out`): toward the
 * real server the destination address and port are rewritten; the real server's replies, which
 * come back through the balancer because it is the real servers' gateway, get the VIP and
 * virtual port back as their source. Checksums are updated incrementally (RFC 1624; see
 * rewrite.ts), and both directions are routed by the stack.
 *
 * A frame that came with offload metadata (a TAP with offloads; see rewrite.ts) is sent with it:
 * a partial checksum (NEEDS_CSUM) is rewritten as a partial sum, and the kernel completes the
 * checksum (and segments a super-frame) after the rewrite.
 *
 * TTL: like classic IPVS, the client -> real direction is not decremented (the balancer is the
 * VIP's endpoint: IPVS hooks LOCAL_IN, before any forwarding), while replies are routed packets
 * and lose one (RFC 1812 5.3.1), as Linux's ip_forward does before IPVS sees them.
 *
 * @module
 */

import { type FrameOffload, VNET_F_NEEDS_CSUM } from "../../stack/wire/virtio_net.ts";
import type { ForwardHost } from "./host.ts";
import { decrementTtl, rewriteDestination, rewriteSource } from "./rewrite.ts";

/**
 * Client -> real server: rewrites the destination to `realIp:realPort` and routes the packet.
 * `l4Off` is the TCP/UDP header's index; `protocol` 6 or 17; `offload`: the metadata the frame
 * came with (null: plain), only read: with NEEDS_CSUM the L4 checksum is a partial sum. True
 * when sent or queued for ARP.
 */
export function forwardNatIn(
  host: ForwardHost,
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  l4Off: number,
  protocol: number,
  realIp: number,
  realPort: number,
  offload: FrameOffload | null = null,
): boolean {
  const partial = offload !== null && (offload.flags & VNET_F_NEEDS_CSUM) !== 0;
  rewriteDestination(buf, ipOff, l4Off, protocol, realIp, realPort, partial);
  return host.sendIpv4(buf, ipOff, ipLen, offload);
}

/**
 * Real server -> client: rewrites the source to `vip:vport`, decrements the TTL and routes the
 * packet to the client. `offload` as for {@link forwardNatIn}. True when sent or queued for ARP.
 */
export function forwardNatOut(
  host: ForwardHost,
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  l4Off: number,
  protocol: number,
  vip: number,
  vport: number,
  offload: FrameOffload | null = null,
): boolean {
  const partial = offload !== null && (offload.flags & VNET_F_NEEDS_CSUM) !== 0;
  rewriteSource(buf, ipOff, l4Off, protocol, vip, vport, partial);
  decrementTtl(buf, ipOff);
  return host.sendIpv4(buf, ipOff, ipLen, offload);
}
