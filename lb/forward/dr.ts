/**
 * Direct routing (ipvsadm `-g`, IPVS `ip_vs_dr_xmit`): the packet is sent unchanged to the real
 * server's MAC address. Only the Ethernet header is rewritten: the destination stays the VIP,
 * which the real server holds on a non-ARPing interface (Linux: `lo` with arp_ignore=1 and
 * arp_announce=2), and the real server answers the client directly, so replies never pass
 * through the balancer. The real server must be on the balancer's link: its MAC comes from ARP.
 *
 * Nothing in the IPv4 header changes, TTL included: the balancer is the VIP's endpoint here
 * (IPVS hooks LOCAL_IN), not a router hop, and an unchanged header needs no checksum work.
 *
 * @module
 */

import type { FrameOffload } from "../../stack/wire/virtio_net.ts";
import type { ForwardHost } from "./host.ts";

/**
 * Sends `buf[ipOff .. ipOff+ipLen)` to `realIp`'s MAC (resolved with ARP; queued while it
 * resolves). The Ethernet header is written into the 14 bytes before `ipOff`. `offload`: the
 * metadata the frame came with (null: plain), sent with it unchanged. True when sent or queued.
 */
export function forwardDirect(
  host: ForwardHost,
  buf: Uint8Array,
  ipOff: number,
  ipLen: number,
  realIp: number,
  offload: FrameOffload | null = null,
): boolean {
  return host.sendIpv4Via(buf, ipOff, ipLen, realIp, offload);
}
