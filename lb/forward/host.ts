/**
 * What the forwarding methods need from the stack: the `Stack` has all of it, and unit tests can
 * pass a fake. Kept small so a forwarder cannot reach into the stack beyond sending.
 *
 * @module
 */
import type { IcmpErrorSender } from "../../stack/net/icmp.ts";
import type { FrameOffload } from "../../stack/wire/virtio_net.ts";

/** The sending side of a stack, as the forwarders use it. */
export interface ForwardHost extends IcmpErrorSender {
  /** The interface address: the outer source of tunnelled packets. */
  readonly address: number;
  /** The link MTU: largest IP datagram one frame carries. */
  readonly mtu: number;
  /**
   * Routes and sends `buf[ipOff .. ipOff+ipLen)` (complete, checksums included, >= 14 bytes of
   * headroom): NAT and TUN. `offload`: the packet's metadata (null: plain; a forwarded
   * super-frame's or partial checksum's), only read. False when dropped (the stack counts why).
   */
  sendIpv4(buf: Uint8Array, ipOff: number, ipLen: number, offload?: FrameOffload | null): boolean;
  /**
   * Sends to the explicit next hop `nextHop` (ARP-resolved), whatever the destination: DR.
   * `offload` as for {@link sendIpv4}.
   */
  sendIpv4Via(
    buf: Uint8Array,
    ipOff: number,
    ipLen: number,
    nextHop: number,
    offload?: FrameOffload | null,
  ): boolean;
  /** A fresh IPv4 identification for a datagram we build (the outer tunnel header). */
  nextIpId(): number;
}
