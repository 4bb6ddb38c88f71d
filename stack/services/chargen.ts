/**
 * The Character Generator Protocol (RFC 864) over TCP: once connected, the server sends the
 * rotating 72-character lines of printable ASCII until the client goes away; anything the client
 * sends is read and thrown away.
 *
 * @module
 */

import {
  serveConns,
  type Service,
  type ServiceConn,
  type ServiceListener,
  writeAll,
} from "./conn.ts";

/** The well-known chargen port (RFC 864). */
export const CHARGEN_PORT = 19;
/** Characters per line, before CR LF (RFC 864's suggested pattern). */
export const CHARGEN_LINE = 72;
/** The 95 printing ASCII characters, space (32) through tilde (126). */
const PRINTABLE = 95;
const FIRST = 32;

/**
 * One full cycle of RFC 864's pattern: 95 lines, line `i` being the 72 characters starting at
 * printable character `i` (wrapping), each followed by CR LF. The stream repeats this cycle.
 */
export function chargenCycle(): Uint8Array {
  const lineLen = CHARGEN_LINE + 2;
  const out = new Uint8Array(PRINTABLE * lineLen);
  for (let line = 0; line < PRINTABLE; line++) {
    const base = line * lineLen;
    for (let j = 0; j < CHARGEN_LINE; j++) out[base + j] = FIRST + ((line + j) % PRINTABLE);
    out[base + CHARGEN_LINE] = 13;
    out[base + CHARGEN_LINE + 1] = 10;
  }
  return out;
}

/** The cycle, built once and shared by every connection (it is never written to). */
const CYCLE = chargenCycle();

/**
 * Sends the chargen stream on `conn` until a write fails (the client closed or reset) or the
 * connection is closed; input is drained and discarded meanwhile.
 */
export async function handleChargen(conn: ServiceConn): Promise<void> {
  const drain = (async () => {
    const buf = new Uint8Array(4096);
    try {
      while ((await conn.read(buf)) !== null) { /* RFC 864: received data is thrown away */ }
    } catch {
      // The connection ended: the write loop notices too.
    }
  })();
  try {
    while (true) await writeAll(conn, CYCLE);
  } finally {
    conn.close();
    await drain;
  }
}

/** Serves RFC 864 chargen on every connection of `listener`. */
export function serveChargen<C extends ServiceConn>(
  listener: ServiceListener<C>,
  onError?: (e: unknown) => void,
): Service {
  return serveConns("chargen", listener, handleChargen, onError);
}
