/**
 * The TCP connect check (keepalived's TCP_CHECK): healthy when a three-way handshake to the real
 * server's own address and port completes within the timeout. It runs from the userspace stack
 * (`Stack.connect`), so for DR the SYN goes from the balancer's own address to the real server's
 * address, not to the VIP. The connection is closed right after the handshake.
 *
 * @module
 */

import type { ConnectOptions } from "../../stack/tcp/api_options.ts";

/** The part of a connection a probe uses (a `TcpConn` or a `Deno.Conn` fits). */
export interface ProbeConn {
  /** Reads into `p`; resolves the byte count, or null at end of stream. */
  read(p: Uint8Array): Promise<number | null>;
  /** Writes `p`; resolves the bytes written. */
  write(p: Uint8Array): Promise<number>;
  /** Closes the connection. */
  close(): void;
}

/** Opens a connection (`stack.connect` bound to the stack). */
export type Connector = (options: ConnectOptions) => Promise<ProbeConn>;

/** Where and how long: the real server's address (IPv4 literal) and port, and a timeout. */
export interface ProbeTarget {
  /** The real server's IPv4 address, dotted quad. */
  hostname: string;
  /** The real server's port. */
  port: number;
  /** Give up after this many milliseconds. */
  timeoutMs: number;
}

/** Short text for a thrown error (its name and message). */
export function errorReason(e: unknown): string {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

/** Connects and closes; resolves null when the handshake completed, else the reason. */
export async function tcpCheck(connect: Connector, target: ProbeTarget): Promise<string | null> {
  try {
    const conn = await connect({
      hostname: target.hostname,
      port: target.port,
      timeoutMs: target.timeoutMs,
    });
    conn.close();
    return null;
  } catch (e) {
    return `tcp connect to ${target.hostname}:${target.port} failed: ${errorReason(e)}`;
  }
}
