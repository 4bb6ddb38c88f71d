/**
 * The option objects of `stack.listen` and `stack.connect` (the shapes of `Deno.listen` and
 * `Deno.connect` for TCP), and their validation.
 *
 * @module
 */

import { parseIpv4 } from "../wire/address.ts";

/** Options of `stack.listen`. */
export interface ListenOptions {
  /** Port to listen on, 1..65535. */
  port: number;
  /** IPv4 address to listen on (default "0.0.0.0": every address of the host). */
  hostname?: string;
  /** Accept-queue length (default the stack's `tcp.acceptBacklog`). */
  backlog?: number;
}

/** Options of `stack.connect`. */
export interface ConnectOptions {
  /** The peer: an IPv4 literal (there is no resolver on the userspace stack). */
  hostname: string;
  /** The peer's port, 1..65535. */
  port: number;
  /** Our port (default: an ephemeral port chosen per RFC 6056). */
  localPort?: number;
  /** Give up the handshake after this many ms (default: the SYN retries, about 2 minutes). */
  timeoutMs?: number;
}

/** Parses and checks a hostname (IPv4 literal) and port; throws TypeError/RangeError. */
export function openParams(
  hostname: string,
  port: number,
  what: string,
): { addr: number; port: number } {
  const addr = parseIpv4(hostname);
  if (addr === null) {
    throw new TypeError(`${what}: hostname "${hostname}" is not an IPv4 address`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError(`${what}: port ${port} is not in 1..65535`);
  }
  return { addr, port };
}
