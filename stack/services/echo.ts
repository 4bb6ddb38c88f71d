/**
 * The Echo Protocol (RFC 862): whatever a client sends comes back, over TCP until the client
 * closes (its FIN is answered with ours once everything was echoed, so `nc -N` sees the end), and
 * over UDP one datagram for one datagram.
 *
 * @module
 */

import {
  type AnyAddr,
  type DatagramSocketLike,
  serveConns,
  serveDatagrams,
  type Service,
  type ServiceConn,
  type ServiceListener,
  writeAll,
} from "./conn.ts";

/** The well-known echo port (RFC 862). */
export const ECHO_PORT = 7;
/**
 * Bytes read (and echoed) at a time on one connection: small, because an echo server with
 * thousands of connections whose peers never read holds one such chunk each while its writes
 * wait (measured: 64 KiB chunks were 300 MiB of the process at 5,000 connections).
 */
const CHUNK = 16 * 1024;

/**
 * Echoes one TCP connection: every byte read is written back (RFC 862: "any data received is
 * sent back"), and the client's end of stream is answered with ours (closeWrite).
 */
export async function handleEcho(conn: ServiceConn): Promise<void> {
  const buf = new Uint8Array(CHUNK);
  while (true) {
    const n = await conn.read(buf);
    if (n === null) break;
    await writeAll(conn, n === buf.length ? buf : buf.subarray(0, n));
  }
  await conn.closeWrite();
}

/** Serves RFC 862 echo on every connection of `listener`. */
export function serveEcho<C extends ServiceConn>(
  listener: ServiceListener<C>,
  onError?: (e: unknown) => void,
): Service {
  return serveConns("echo", listener, handleEcho, onError);
}

/** Serves RFC 862 echo over UDP: each datagram is sent back to its sender. */
export function serveUdpEcho<A extends AnyAddr>(
  socket: DatagramSocketLike<A>,
  onError?: (e: unknown) => void,
): Service {
  return serveDatagrams("echo", socket, async (data, from, s) => {
    await s.send(data, from);
  }, onError);
}
