/**
 * The option objects of `stack.listen` and `stack.connect`: the shapes of `Deno.listen` and
 * `Deno.connect` for TCP (Deno's names and defaults), and their validation.
 *
 * @module
 */

import { parseIpv4 } from "../wire/address.ts";
import { parseIpv6 } from "../wire/address6.ts";

/** `listen`'s default hostname, as Deno's: every address of the host. */
export const DEFAULT_LISTEN_HOSTNAME = "0.0.0.0";
/**
 * `connect`'s default hostname, as Deno's: this host, through the stack's loopback
 * (stack/net/loopback.ts).
 */
export const DEFAULT_CONNECT_HOSTNAME = "127.0.0.1";
/** RFC 6056 / IANA dynamic port range: `port: 0` listeners and ephemeral local ports. */
export const EPHEMERAL_LOW = 49152;
/** Upper end of the dynamic port range. */
export const EPHEMERAL_HIGH = 65535;

/** Options of `stack.listen`, as `Deno.TcpListenOptions`. */
export interface ListenOptions {
  /** Port to listen on, 0..65535; 0 (the default, as Deno's) picks a free ephemeral port. */
  port?: number;
  /**
   * IPv4 address to listen on (default "0.0.0.0": every address of the host, loopback included).
   * "localhost" is 127.0.0.1: reachable only from this stack (its loopback).
   */
  hostname?: string;
  /** Accept-queue length, as Deno's `tcpBacklog` (default the stack's `tcp.acceptBacklog`). */
  tcpBacklog?: number;
  /** The same as `tcpBacklog` (this stack's earlier name for it); `tcpBacklog` wins. */
  backlog?: number;
  /** Always "tcp" if given (Deno's `transport`). */
  transport?: "tcp";
  /** Accepted for Deno's option objects; one stack has one listener per port anyway. */
  reusePort?: boolean;
}

/** Options of `stack.connect`, as `Deno.ConnectOptions`. */
export interface ConnectOptions {
  /**
   * The peer: an IPv4 literal (there is no resolver on the userspace stack) or "localhost".
   * Default "127.0.0.1" as Deno's: a listener of this same stack, through its loopback.
   */
  hostname?: string;
  /** The peer's port, 1..65535. */
  port: number;
  /** Always "tcp" if given (Deno's `transport`). */
  transport?: "tcp";
  /**
   * Cancels the handshake, as Deno's: the promise rejects with the signal's reason (the
   * connection, once established, is the caller's to close).
   */
  signal?: AbortSignal;
  /** Our port (default: an ephemeral port chosen per RFC 6056). */
  localPort?: number;
  /** Give up the handshake after this many ms (default: the SYN retries, about 2 minutes). */
  timeoutMs?: number;
}

/**
 * Parses and checks a hostname (IPv4 literal, or "localhost") and port; throws TypeError or
 * RangeError. Port 0 is allowed only where `zeroPort` says so (listen: an ephemeral port).
 */
export function openParams(
  hostname: string,
  port: number,
  what: string,
  zeroPort = false,
): { addr: number; port: number; addr6: Uint8Array | null } {
  if (typeof hostname !== "string") {
    throw new TypeError(`${what}: hostname must be a string, got ${typeof hostname}`);
  }
  let addr = parseIpv4(hostname === "localhost" ? "127.0.0.1" : hostname);
  let addr6: Uint8Array | null = null;
  if (addr === null) {
    // An IPv6 literal, bare or in brackets as in a URL; an IPv4-mapped one is that IPv4 address.
    const bare = hostname.startsWith("[") && hostname.endsWith("]")
      ? hostname.slice(1, -1)
      : hostname;
    addr6 = parseIpv6(bare);
    if (addr6 === null) {
      throw new TypeError(`${what}: hostname "${hostname}" is not an IPv4 or IPv6 address`);
    }
    addr = 0;
    if (addr6.subarray(0, 10).every((b) => b === 0) && addr6[10] === 0xff && addr6[11] === 0xff) {
      addr = ((addr6[12] << 24) | (addr6[13] << 16) | (addr6[14] << 8) | addr6[15]) >>> 0;
      addr6 = null;
    }
  }
  const low = zeroPort ? 0 : 1;
  if (!Number.isInteger(port) || port < low || port > 65535) {
    throw new RangeError(`${what}: port ${port} is not in ${low}..65535`);
  }
  return { addr, port, addr6 };
}
