/**
 * Bulk TCP over an impaired link, in memory: two stacks on a memory pair, the sender's device
 * wrapped in the seeded impairment of `--impair` (stack/link/impair.ts: loss and duplication
 * each way, reordering, delay), so loss recovery and congestion control are measured without a
 * TAP or root. Each configuration sends the same bytes over the same seeded link, one after the
 * other in one run; the figures are MiB/s and the recovery counters.
 *
 * usage: scripts/deno run -A scripts/bench/tcp_impaired.ts [MiB (default 10)]
 *   [--impair SPEC (default loss=3%,reorder=5%,dup=1%,delay=5ms)]
 *   [--tcp JSON]... (one configuration each, e.g. '{"congestion":"bbr"}'; default: CUBIC with
 *   RFC 6675 recovery, CUBIC with RACK-TLP, NewReno with RACK-TLP, BBR)
 *
 * @module
 */
import { createMemoryPair } from "../../stack/link/memory.ts";
import { ImpairedDevice, parseImpairSpec } from "../../stack/link/impair.ts";
import { Stack } from "../../stack/net/stack.ts";
import type { TcpStackOptions } from "../../stack/tcp/config.ts";
import { tcbOf } from "../../stack/tcp/conn.ts";

const args = [...Deno.args];
const take = (flag: string): string[] => {
  const out: string[] = [];
  for (let i = args.indexOf(flag); i >= 0; i = args.indexOf(flag)) {
    out.push(args[i + 1]);
    args.splice(i, 2);
  }
  return out;
};
const impairText = take("--impair")[0] ?? "loss=3%,reorder=5%,dup=1%,delay=5ms";
const configs: TcpStackOptions[] = take("--tcp").map((j) => JSON.parse(j));
if (configs.length === 0) {
  configs.push(
    { recovery: "rfc6675" },
    {},
    { congestion: "newreno" },
    { congestion: "bbr" },
  );
}
const mib = Number(args[0] ?? 10);
const spec = parseImpairSpec(impairText);
if (typeof spec === "string") throw new Error(`--impair: ${spec}`);

async function run(tcp: TcpStackOptions): Promise<Record<string, unknown>> {
  const [da, db] = createMemoryPair({});
  const a = new Stack({
    device: new ImpairedDevice(da, spec as never),
    address: 0x0a000001,
    prefix: 24,
    tcp,
  });
  const b = new Stack({ device: db, address: 0x0a000002, prefix: 24 });
  a.start();
  b.start();
  try {
    const l = b.listen({ port: 9 });
    const sink = (async () => {
      const c = await l.accept();
      const buf = new Uint8Array(65536);
      while ((await c.read(buf)) !== null) { /* discard */ }
    })();
    const c = await a.connect({ hostname: "10.0.0.2", port: 9 });
    const t = tcbOf(c);
    const chunk = new Uint8Array(65536);
    const total = mib << 20;
    const t0 = performance.now();
    for (let off = 0; off < total;) {
      off += await c.write(chunk.subarray(0, Math.min(65536, total - off)));
    }
    // Sent when everything is acknowledged.
    for (let i = 0; i < 60_000 && (t.outstanding > 0 || t.sndBuf!.len > 0); i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const s = (performance.now() - t0) / 1000;
    c.close();
    await sink.catch(() => {});
    const k = a.counters.snapshot();
    return {
      tcp: JSON.stringify(tcp),
      "MiB/s": Number((mib / s).toFixed(2)),
      seconds: Number(s.toFixed(1)),
      "fast recoveries": k["tcp.fast_retransmits"] ?? 0,
      RTOs: k["tcp.rto_expired"] ?? 0,
      "TLP probes": k["tcp.tlp_probes"] ?? 0,
      "segments retransmitted": k["tcp.retransmits"] ?? 0,
      "DSACKs": k["tcp.dsacks_received"] ?? 0,
    };
  } finally {
    await a.close();
    await b.close();
  }
}

console.log(`${mib} MiB, --impair ${impairText} on the sender's device (both directions)`);
const rows = [];
for (const tcp of configs) rows.push(await run(tcp));
console.table(rows);
