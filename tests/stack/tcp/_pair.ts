/**
 * Two stacks joined by an in-memory cable (10.0.0.1 and 10.0.0.2), for TCP tests.
 *
 * @module
 */
import { createMemoryPair, type MemoryDevice } from "../../../stack/link/memory.ts";
import { Stack, type StackOptions } from "../../../stack/net/stack.ts";
import type { TcpStackOptions } from "../../../stack/tcp/config.ts";
import "./_internals.ts";

/** Address of the first stack. */
export const A = 0x0a000001;
/** Address of the second stack. */
export const B = 0x0a000002;

/** A running pair. */
export interface Pair {
  a: Stack;
  b: Stack;
  devA: MemoryDevice;
  devB: MemoryDevice;
  close(): Promise<void>;
}

/** Starts two stacks on a memory pair; `close()` stops both and waits for their loops. */
export function startPair(
  tcpA: TcpStackOptions = {},
  tcpB: TcpStackOptions = tcpA,
  extra: Partial<StackOptions> = {},
): Pair {
  const [devA, devB] = createMemoryPair({ queueLength: 4096 });
  const a = new Stack({ device: devA, address: A, prefix: 24, tcp: tcpA, ...extra });
  const b = new Stack({ device: devB, address: B, prefix: 24, tcp: tcpB, ...extra });
  const runs = [a.start(), b.start()];
  return {
    a,
    b,
    devA,
    devB,
    async close() {
      a.close();
      b.close();
      await Promise.all(runs);
    },
  };
}

/** Reads until EOF; returns all bytes. */
export async function readAll(conn: { read(p: Uint8Array): Promise<number | null> }) {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(65536);
  let total = 0;
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    chunks.push(buf.slice(0, n));
    total += n;
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** Writes all of `data`. */
export async function writeAll(
  conn: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await conn.write(data.subarray(off));
}

/** Deterministic pseudo-random bytes. */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Waits until `cond()` holds, polling, or throws after `ms`. */
export async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
