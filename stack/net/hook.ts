/**
 * The packet hook between IPv4 input and local delivery: the place where IPVS hooks LOCAL_IN in
 * the kernel. The load balancer is one user of it; a stack without a hook is a plain host.
 *
 * @module
 */

/** What a hook did with a packet. */
export type HookVerdict =
  /** Not the hook's business: continue with local delivery. */
  | "pass"
  /** The hook took the packet (forwarded it, or dropped and counted it itself). */
  | "consumed";

/**
 * The IPv6 twin of {@link PacketHook} (stack/net/ipv6_host.ts): called for every valid IPv6
 * packet, reassembled, addressed to this host (VIPs included) or, with `forwarding` on, to any
 * address. `buf[ipOff .. ipOff+len)` is the packet, its extension headers walked: the upper-layer
 * protocol is `protocol` and its header starts at `upperOff`. `frameOff` as for IPv4. ICMPv6
 * addressed to the host itself (Neighbor Discovery) is not offered: the host handles it.
 */
export type Ipv6PacketHook = (
  buf: Uint8Array,
  frameOff: number,
  ipOff: number,
  len: number,
  protocol: number,
  upperOff: number,
) => HookVerdict;

/**
 * Called for every valid, reassembled IPv4 packet addressed to this host (one of its addresses,
 * VIPs included) or, when `forwarding` is on, to any address (so a NAT balancer sees real servers'
 * replies). `buf[ipOff .. ipOff+ipLen)` is the IPv4 packet; `buf[frameOff .. ipOff)` is the
 * Ethernet header it came in (frameOff is -1 for a packet reassembled from fragments, which has
 * no single frame but still has at least 14 bytes of headroom before `ipOff`). The bytes are only
 * valid during the call; the hook may rewrite them in place and transmit them.
 */
export type PacketHook = (
  buf: Uint8Array,
  frameOff: number,
  ipOff: number,
  ipLen: number,
) => HookVerdict;
