/**
 * The Discard Protocol (RFC 863): everything a client sends is read and thrown away; nothing is
 * ever sent back. Over TCP the connection ends when the client closes; over UDP datagrams are
 * received and dropped.
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
} from "./conn.ts";

/** The well-known discard port (RFC 863). */
export const DISCARD_PORT = 9;
const CHUNK = 64 * 1024;

/** Reads one connection to its end, discarding the data; resolves with the byte count. */
export async function handleDiscard(conn: ServiceConn): Promise<number> {
  const buf = new Uint8Array(CHUNK);
  let total = 0;
  while (true) {
    const n = await conn.read(buf);
    if (n === null) return total;
    total += n;
  }
}

/** Serves RFC 863 discard on every connection of `listener`. */
export function serveDiscard<C extends ServiceConn>(
  listener: ServiceListener<C>,
  onError?: (e: unknown) => void,
): Service {
  return serveConns("discard", listener, async (c) => {
    await handleDiscard(c);
  }, onError);
}

/** Serves RFC 863 discard over UDP: datagrams are received and dropped. */
export function serveUdpDiscard<A extends AnyAddr>(
  socket: DatagramSocketLike<A>,
  onError?: (e: unknown) => void,
): Service {
  return serveDatagrams("discard", socket, () => Promise.resolve(), onError);
}
