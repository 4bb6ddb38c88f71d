/**
 * Helpers for the service tests: services run on real kernel sockets (Deno.listen on 127.0.0.1),
 * which is exactly the `Deno.Conn` shape they must also accept from the userspace stack.
 */
import type { Service } from "../../../stack/services/conn.ts";

/** A TCP listener on 127.0.0.1 with a kernel-chosen port. */
export function localListener(): Deno.TcpListener {
  return Deno.listen({ hostname: "127.0.0.1", port: 0 });
}

/** Connects to `service`'s port on 127.0.0.1. */
export function connectTo(service: Service): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port: service.addr.port! });
}

/** Reads `conn` until end of stream (bounded by `max` bytes and `timeoutMs`). */
export async function readAll(
  conn: Deno.Conn,
  max = 1 << 26,
  timeoutMs = 10_000,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const buf = new Uint8Array(65536);
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    while (total <= max) {
      const n = await conn.read(buf);
      if (n === null) break;
      parts.push(buf.slice(0, n));
      total += n;
    }
  } finally {
    clearTimeout(timer);
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads exactly `n` bytes (or throws at end of stream). */
export async function readExactly(conn: Deno.Conn, n: number): Promise<Uint8Array> {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(out.subarray(off));
    if (got === null) throw new Error(`stream ended after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}

/** Writes all of `data`. */
export async function writeAllTo(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

export const enc = new TextEncoder();
export const dec = new TextDecoder();
