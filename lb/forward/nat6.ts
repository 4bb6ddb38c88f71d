/**
 * NAT for IPv6 flows (ipvsadm `-m` with an IPv6 service, IPVS `ip_vs_nat_xmit_v6`): toward the
 * real server the destination address and port become the real server's; its replies, routed
 * through the balancer, get the VIP and virtual port back as their source.
 *
 * IPv6 has no header checksum (RFC 8200 3); the TCP/UDP checksum covers a pseudo-header with both
 * 128-bit addresses (RFC 8200 8.1), so a new address changes it by the difference of eight 16-bit
 * words, applied incrementally (RFC 1624 eqn. 3) as four 32-bit adjustments, with the port's. A
 * partial checksum (virtio NEEDS_CSUM) gets the address part only, as for IPv4 (rewrite.ts). UDP
 * over IPv6 must carry a checksum (RFC 8200 8.1); a zero one is left as it is (its receiver drops
 * it), as for IPv4.
 *
 * The hop limit: like IPv4's TTL (nat.ts), client -> real is not decremented (the balancer is the
 * VIP's endpoint), replies are routed packets and lose one (RFC 8200 3); a reply that arrives with
 * a hop limit of 1 or less is not forwarded (the caller answers Time Exceeded, RFC 4443 3.3).
 *
 * @module
 */

import { readU16, readU32, writeU16, writeU32 } from "../../stack/wire/bytes.ts";
import { checksumAdjust16, checksumAdjust32 } from "../../stack/wire/checksum.ts";
import { IP_PROTO_UDP } from "../../stack/wire/ipv4.ts";
import { type FrameOffload, VNET_F_NEEDS_CSUM } from "../../stack/wire/virtio_net.ts";
import { l4ChecksumOffset } from "./rewrite.ts";

/** Offset of the IPv6 source address; the destination follows at 24. */
const IP6_SRC = 8;
const IP6_DST = 24;
/** Offset of the hop limit. */
const IP6_HOP_LIMIT = 7;

/** What the IPv6 NAT needs from the stack (stack/net/ipv6_host.ts's `Ipv6Host` has it). */
export interface Ipv6Sender {
  /** Routes and sends an IPv6 packet with 14 bytes of headroom; false when dropped. */
  sendPacket(buf: Uint8Array, ipOff: number, len: number, offload?: FrameOffload | null): boolean;
}

/**
 * Writes the address `addr[aOff ..+16)` at `buf[ipOff + addrOff]` and the port at
 * `buf[l4Off + portOff]`, adjusting the TCP/UDP checksum (see the module comment).
 */
export function rewrite6(
  buf: Uint8Array,
  ipOff: number,
  l4Off: number,
  protocol: number,
  addrOff: number,
  portOff: number,
  addr: Uint8Array,
  aOff: number,
  port: number,
  partial: boolean,
): void {
  const cOff = l4Off + l4ChecksumOffset(protocol);
  let c = readU16(buf, cOff);
  const none = !partial && protocol === IP_PROTO_UDP && c === 0;
  if (partial) c = ~c & 0xffff;
  const at = ipOff + addrOff;
  for (let i = 0; i < 16; i += 4) {
    const oldWord = readU32(buf, at + i);
    const newWord = readU32(addr, aOff + i);
    c = checksumAdjust32(c, oldWord, newWord);
    writeU32(buf, at + i, newWord);
  }
  const oldPort = readU16(buf, l4Off + portOff);
  writeU16(buf, l4Off + portOff, port);
  if (none) return;
  if (partial) {
    // The port lies in the range the kernel still sums: only the address goes into P.
    writeU16(buf, cOff, ~c & 0xffff);
    return;
  }
  c = checksumAdjust16(c, oldPort, port);
  if (protocol === IP_PROTO_UDP && c === 0) c = 0xffff;
  writeU16(buf, cOff, c);
}

const isPartial = (o: FrameOffload | null) => o !== null && (o.flags & VNET_F_NEEDS_CSUM) !== 0;

/**
 * Client -> real server: destination becomes `real[0..16)`:`realPort`, the packet is routed.
 * `offload`: the received frame's metadata (only read). True when sent or queued.
 */
export function forwardNat6In(
  host: Ipv6Sender,
  buf: Uint8Array,
  ipOff: number,
  len: number,
  l4Off: number,
  protocol: number,
  real: Uint8Array,
  realPort: number,
  offload: FrameOffload | null = null,
): boolean {
  rewrite6(buf, ipOff, l4Off, protocol, IP6_DST, 2, real, 0, realPort, isPartial(offload));
  return host.sendPacket(buf, ipOff, len, offload);
}

/**
 * Real server -> client: source becomes `vip[0..16)`:`vport`, the hop limit loses one and the
 * packet is routed to the client. The caller has checked the hop limit is above 1.
 */
export function forwardNat6Out(
  host: Ipv6Sender,
  buf: Uint8Array,
  ipOff: number,
  len: number,
  l4Off: number,
  protocol: number,
  vip: Uint8Array,
  vport: number,
  offload: FrameOffload | null = null,
): boolean {
  rewrite6(buf, ipOff, l4Off, protocol, IP6_SRC, 0, vip, 0, vport, isPartial(offload));
  buf[ipOff + IP6_HOP_LIMIT]--;
  return host.sendPacket(buf, ipOff, len, offload);
}
