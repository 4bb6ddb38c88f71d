/**
 * Built-in services for the userspace stack (and for Deno's own sockets): echo (RFC 862),
 * discard (RFC 863), chargen (RFC 864) and a small HTTP/1.1 server, written against the
 * `Deno.Conn`/`Deno.Listener` shape so the same code runs on `stack.listen` and `Deno.listen`.
 *
 * ```ts
 * import { serveHttp } from "./mod.ts";
 *
 * const service = serveHttp(Deno.listen({ port: 8080 }), { hostName: "demo" });
 * // curl http://127.0.0.1:8080/ -> "lb.ts host demo"
 * service.close();
 * await service.done;
 * ```
 *
 * @module
 */

export {
  type AnyAddr,
  closeQuietly,
  type ConnHandler,
  type DatagramSocketLike,
  isDisconnect,
  serveConns,
  serveDatagrams,
  type Service,
  type ServiceConn,
  type ServiceListener,
  writeAll,
} from "./conn.ts";
export { ECHO_PORT, handleEcho, serveEcho, serveUdpEcho } from "./echo.ts";
export { DISCARD_PORT, handleDiscard, serveDiscard, serveUdpDiscard } from "./discard.ts";
export {
  CHARGEN_LINE,
  CHARGEN_PORT,
  chargenCycle,
  handleChargen,
  serveChargen,
} from "./chargen.ts";
export {
  BYTES_BLOCK_LEN,
  bytesBlock,
  bytesSha256,
  DEFAULT_IDLE_TIMEOUT_MS,
  handleHttp,
  type HttpOptions,
  MAX_BYTES,
  MAX_HEAD_BYTES,
  serveHttp,
} from "./http.ts";
export {
  checkServeSpecs,
  formatServeSpec,
  type IpAddr,
  parseServeSpec,
  type RunningServices,
  type ServeSpec,
  type ServiceHost,
  type ServiceName,
  startServices,
  type StartServicesOptions,
} from "./serve.ts";
