/**
 * TCP for the userspace stack (RFC 9293 with RFC 5961, 6528, 7323, 2018/6675, 6298, 5681/6582,
 * 3042, 9438, 4987, 6056). Applications use it through the Stack:
 *
 * ```ts
 * import { Stack } from "../net/stack.ts";
 * import { createMemoryPair } from "../link/memory.ts";
 *
 * const [a, b] = createMemoryPair();
 * const server = new Stack({ device: a, address: 0x0a000001, prefix: 24 });
 * const client = new Stack({ device: b, address: 0x0a000002, prefix: 24 });
 * const runs = [server.start(), client.start()];
 * const listener = server.listen({ port: 7 });
 * (async () => {
 *   for await (const conn of listener) conn.readable.pipeTo(conn.writable);
 * })();
 * const conn = await client.connect({ hostname: "10.0.0.1", port: 7 });
 * await conn.write(new TextEncoder().encode("hello"));
 * const buf = new Uint8Array(5);
 * await conn.read(buf);
 * conn.close();
 * server.close();
 * client.close();
 * await Promise.all(runs);
 * ```
 *
 * @module
 */

export type { ConnectOptions, ListenOptions } from "./api_options.ts";
export {
  type KeepaliveOptions,
  resolveTcpConfig,
  type TcpConfig,
  type TcpStackOptions,
  windowScaleFor,
} from "./config.ts";
export type { CongestionControl, CongestionName, CongestionWindow } from "./congestion/cc.ts";
export { Cubic, CUBIC_BETA, CUBIC_C, cubicK, wCubic } from "./congestion/cubic.ts";
export { NewReno } from "./congestion/newreno.ts";
export { type TcpAddr, TcpConn } from "./conn.ts";
export { type TcpHost, TcpLayer } from "./layer.ts";
export { TcpListener } from "./listener.ts";
export { type RtoOptions, RttEstimator } from "./rto.ts";
export { SackScoreboard } from "./sack_scoreboard.ts";
export type { TcpSocketInfo } from "./snapshot.ts";
export { netstatStateName, rfcStateName } from "./state.ts";
