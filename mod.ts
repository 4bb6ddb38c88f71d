/**
 * lb.ts as a library: a userspace TCP/IP stack on a Linux TAP device (or an in-memory cable),
 * with sockets shaped like Deno's own, so code written for `Deno.listen`/`Deno.connect` runs on
 * it unchanged.
 *
 * ```ts
 * import { parseIpv4, Stack, TapDevice } from "./mod.ts";
 *
 * // Needs root (CAP_NET_ADMIN) for the TAP and --allow-ffi.
 * const device = TapDevice.open({ name: "tap0" });
 * const stack = new Stack({
 *   device,
 *   address: parseIpv4("10.0.0.2")!,
 *   prefix: 24,
 *   gateway: parseIpv4("10.0.0.1")!,
 * });
 * const running = stack.start();
 *
 * // An echo server: the same code as over Deno.listen().
 * for await (const conn of stack.listen({ port: 7 })) {
 *   conn.readable.pipeTo(conn.writable).catch(() => {});
 * }
 * await running;
 * ```
 *
 * HTTP runs on it as on Deno's own sockets: `stack.serve(options, handler)` is `Deno.serve`
 * (a Hono app's `app.fetch` runs unchanged) and `stack.fetch(input, init)` is `fetch`. The L4
 * balancer is here too: a {@link Balancer} on a {@link Stack}, its services and real servers
 * changed from code.
 *
 * Everything that is re-exported here is documented at its definition.
 *
 * @module
 */

/** The host: one device, its address, ARP, routes, IPv4, ICMP, UDP and TCP. */
export { Stack, type StackOptions, type StackSnapshot } from "./stack/net/stack.ts";
/** Tunables of the stack's ARP cache, reassembly and ICMP (`StackOptions`), and ARP states. */
export type { ArpOptions, ArpState } from "./stack/net/arp.ts";
/** IPv6 of a stack configured with addresses (`StackOptions.ipv6`): addresses and neighbors. */
export type {
  Ipv6Address,
  Ipv6ErrorHandler,
  Ipv6ErrorSender,
  Ipv6Host,
  Ipv6NeighborRow,
  Ipv6ProtocolHandler,
  Ipv6RouteRow,
  Ping6Options,
  Ping6Reply,
} from "./stack/net/ipv6_host.ts";
/** The path MTU cache (RFC 1191, RFC 8201) a stack keeps per destination. */
export type { PmtuCache, PmtuOptions } from "./stack/net/pmtu.ts";
/** The IPv6 neighbor cache (RFC 4861) and its entries. */
export type { NdpActions, Neighbor, NeighborCache, NeighborState } from "./stack/net/ndp.ts";
export type { ReassemblyOptions } from "./stack/net/reassembly.ts";
export type { IcmpOptions } from "./stack/net/icmp.ts";
/** `stack.ping()`'s options and answer. */
export type { PingOptions, PingReply } from "./stack/net/ping.ts";
/** The packet hook between IPv4 input and local delivery (where the balancer attaches). */
export type { HookVerdict, Ipv6PacketHook, PacketHook } from "./stack/net/hook.ts";
/** Time sources: the system clock, and a fake one for tests. */
export { type Clock, FakeClock, systemClock } from "./stack/clock.ts";
/** Per-reason counters (drops, protocol events). */
export { Counters } from "./stack/net/counters.ts";

/** The device interface every link implements. */
export type { Device, DeviceStats, FrameHandler } from "./stack/link/device.ts";
/** The base of devices that wrap another one (pcap recording, impairment). */
export { DeviceDecorator } from "./stack/link/decorator.ts";
/** Set-up errors of devices, with an actionable hint. */
export { DeviceError } from "./stack/link/errors.ts";
/** A Linux TAP device driven through libc FFI. */
export { TapDevice, type TapOptions } from "./stack/link/tap.ts";
/**
 * Per-frame virtio-net offload metadata of a TAP opened with `offload: true` (64 KB TCP
 * super-frames, partial checksums): {@link Device.rxOffload} for a received frame, `send()`'s
 * `offload` argument for each frame sent, where {@link Device.txOffloads} says it is taken.
 */
export { type FrameOffload, newFrameOffload, VNET_HDR_LEN } from "./stack/wire/virtio_net.ts";
/** In-memory devices: two ends of a virtual cable, for tests without root. */
export {
  createMemoryDevice,
  createMemoryPair,
  MemoryDevice,
  type MemoryDeviceOptions,
  type MemoryPairOptions,
  type SendObserver,
} from "./stack/link/memory.ts";
/** Recording a device's traffic to a pcap file (`tcpdump -r` reads it). */
export { PcapDevice, type PcapSink, PcapWriter } from "./stack/link/pcap.ts";
/** Seeded loss, reordering, duplication and delay on any device (netem's job, in userspace). */
export {
  formatImpairSpec,
  ImpairedDevice,
  type ImpairSpec,
  type ImpairStats,
  parseImpairSpec,
} from "./stack/link/impair.ts";

/** Addresses: IPv4 as u32 numbers, MACs as 6-byte arrays, parsed and formatted. */
export {
  formatIpv4,
  formatMac,
  parseCidr,
  parseIpv4,
  parseMac,
  prefixMask,
} from "./stack/wire/address.ts";

/** TCP connections and listeners shaped like `Deno.Conn` and `Deno.Listener`. */
export { type TcpAddr, TcpConn } from "./stack/tcp/conn.ts";
/** A TCP listener (`stack.listen`): async-iterable, with `accept()` and `close()`. */
export { TcpListener } from "./stack/tcp/listener.ts";
/** Options of `stack.listen` and `stack.connect`. */
export type { ConnectOptions, ListenOptions } from "./stack/tcp/api_options.ts";
/** TCP tunables on the Stack (`tcp:` option): congestion control, buffers, timers, backlogs. */
export type { KeepaliveOptions, RecoveryName, TcpStackOptions } from "./stack/tcp/config.ts";
/** The congestion-control algorithms (`tcp.congestion`). */
export type { CongestionName } from "./stack/tcp/congestion/cc.ts";
/** TIME_WAIT, orphan and buffer-memory usage against their bounds (`StackSnapshot.tcpUsage`). */
export type { TcpUsage } from "./stack/tcp/layer.ts";
/** One TCP socket as `stack.tcpSnapshot()` (and `lb.ts netstat`) reports it. */
export type { TcpSocketInfo } from "./stack/tcp/snapshot.ts";

/** HTTP/1.1 on the stack, shaped like `Deno.serve` (`stack.serve`), or on any Deno listener. */
export {
  HttpServer,
  type ServeHandler,
  type ServeHandlerInfo,
  type ServeInit,
  serveListener,
  type ServeOptions,
  type ServeOptionsWithHandler,
} from "./stack/http/server.ts";

/**
 * Node compatibility: a stack connection as a `node:net` socket (for undici's `connect`, or any
 * Node library that takes a socket), and `node:http` servers (Express, `@hono/node-server`) on a
 * stack listener.
 */
export { type SocketConn, StackSocket, type StackSocketOptions } from "./stack/node/net_socket.ts";
export { type NodeHttpOnStack, serveNodeHttp } from "./stack/node/http_server.ts";

/** UDP sockets shaped like `Deno.DatagramConn` (`stack.listenDatagram`). */
export {
  MAX_UDP_PAYLOAD,
  type UdpAddr,
  type UdpListenOptions,
  UdpSocket,
} from "./stack/udp/socket.ts";

/** Built-in services (echo, discard, chargen, HTTP) over any Deno-shaped listener. */
export {
  type AnyAddr,
  bytesBlock,
  bytesSha256,
  type DatagramSocketLike,
  handleChargen,
  handleDiscard,
  handleEcho,
  handleHttp,
  type HttpOptions,
  type IpAddr,
  parseServeSpec,
  type RunningServices,
  serveChargen,
  serveDiscard,
  serveEcho,
  serveHttp,
  type ServeSpec,
  serveUdpDiscard,
  serveUdpEcho,
  type Service,
  type ServiceConn,
  type ServiceHost,
  type ServiceListener,
  type ServiceName,
  startServices,
  type StartServicesOptions,
} from "./stack/services/mod.ts";

/**
 * The L4 load balancer on a stack: virtual services and real servers (direct routing, NAT,
 * IP-in-IP), six schedulers, changed from code while it runs.
 */
export {
  Balancer,
  BalancerError,
  type BalancerOptions,
  BalancerService,
  type ForwardMethod,
  type Protocol,
  type RealChanges,
  type RealInfo,
  type RealOptions,
  type SchedulerName,
  type ServiceOptions,
} from "./lb/library.ts";
