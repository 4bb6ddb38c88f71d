/**
 * The userspace TCP/IP stack's public API: the {@link Stack} and what it is made of. Byte layouts
 * are in `stack/wire/mod.ts`, devices in `stack/link/`.
 *
 * ```ts
 * import { Stack } from "./mod.ts";
 * import { createMemoryPair } from "./link/memory.ts";
 *
 * const [a, b] = createMemoryPair();
 * const left = new Stack({ device: a, address: 0x0a000001, prefix: 24 });
 * const right = new Stack({ device: b, address: 0x0a000002, prefix: 24 });
 * const runs = [left.start(), right.start()];
 * console.log(await left.ping(0x0a000002)); // { from, bytes: 64, ttl: 64, seq: 1, rttMs }
 * left.close();
 * right.close();
 * await Promise.all(runs);
 * ```
 *
 * @module
 */

export { type Clock, FakeClock, systemClock } from "./clock.ts";
export type { Device, DeviceStats, FrameHandler } from "./link/device.ts";
export {
  ARP_QUEUE_HEADROOM,
  ArpCache,
  type ArpEntryInfo,
  type ArpOptions,
  type ArpPending,
  type ArpState,
  type ArpTransport,
} from "./net/arp.ts";
export { Counters } from "./net/counters.ts";
export type { HookVerdict, PacketHook } from "./net/hook.ts";
export type { EchoReplyHandler, IcmpErrorHandler, IcmpOptions } from "./net/icmp.ts";
export type { ProtocolHandler } from "./net/ipv4_input.ts";
export { TX_HEADROOM } from "./net/ipv4_output.ts";
export type { PingOptions, PingReply } from "./net/ping.ts";
export {
  type FragmentHeader,
  Reassembler,
  REASSEMBLY_HEADROOM,
  type ReassemblyOptions,
} from "./net/reassembly.ts";
export { type Route, type RouteSpec, RouteTable } from "./net/route.ts";
export { Stack, type StackOptions, type StackSnapshot } from "./net/stack.ts";
export { TokenBucket } from "./net/token_bucket.ts";
export { UdpDemux, type UdpHandler, type UdpHost } from "./udp/demux.ts";
