/**
 * The discard sink of the TCP host scripts (tests/netns/_tcp_host.ts, scripts/bench/tcp_bench.ts):
 * reads a connection to its end and prints how many bytes came and how long it took.
 *
 * @module
 */
import type { TcpConn } from "../../stack/tcp/conn.ts";

/** Reads `c` until EOF (or a reset), closes it, prints "discarded N bytes in T ms". */
export async function discard(c: TcpConn): Promise<void> {
  const t0 = performance.now();
  const buf = new Uint8Array(256 * 1024);
  let n = 0;
  try {
    for (;;) {
      const k = await c.read(buf);
      if (k === null) break;
      n += k;
    }
  } catch { /* reset */ }
  c.close();
  console.log(`discarded ${n} bytes in ${(performance.now() - t0).toFixed(1)} ms`);
}
