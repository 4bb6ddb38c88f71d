/**
 * TCP recovery under loss with the kernel as the peer, in both directions:
 *
 * - nftables on the kernel's bridge drops 2% of the TCP segments at random each way
 *   (`numgen random mod 100 < 2`): 100 MB from the host (kernel curl) and 100 MB to the host
 *   (the host fetches from a kernel server) arrive exact, and the host's counters show
 *   retransmissions, fast retransmits and out-of-order arrivals;
 * - the host's TAP wrapped in the impairment device (loss, reordering, duplication, delay).
 */
import { assert, assertEquals } from "../assert.ts";
import {
  buildTcpNet,
  KERNEL_IP,
  patternSha256,
  PY_SERVER,
  readStats,
  STACK_IP,
  startHost,
  type TcpNet,
} from "./_tcp_net.ts";
import { netnsTest, type Topology } from "./topology.ts";

const MB = 1024 * 1024;

/**
 * `percent`% random drop of TCP each way on the bridge between the kernel and the host (the
 * hub's nftables, bridge family). Drops in k1's own output hook would not do: the kernel sees
 * those as a local failure and resends before anything reaches the wire.
 */
async function lossy(t: Topology, n: TcpNet, percent = 2): Promise<void> {
  const rules = `
table bridge lbtloss {
  chain drops {
    type filter hook forward priority 0;
    ip protocol tcp numgen random mod 100 < ${percent} counter drop;
  }
}`;
  const file = t.tempPath("loss.nft");
  Deno.writeTextFileSync(file, rules);
  await t.execOk(n.hub, ["nft", "-f", file]);
}

async function drops(t: Topology, n: TcpNet): Promise<number> {
  const out = await t.execOk(n.hub, ["nft", "list", "table", "bridge", "lbtloss"]);
  let total = 0;
  for (const m of out.matchAll(/packets (\d+)/g)) total += Number(m[1]);
  return total;
}

/** The host sends `size` bytes (kernel curl downloads them); returns the host's counters. */
async function hostSends(
  t: Topology,
  n: TcpNet,
  size: number,
  tcp: Record<string, unknown>,
  impair?: string,
): Promise<Record<string, number>> {
  const host = await startHost(t, n, ["http", "80"], tcp, impair);
  const got = await t.execOk(n.k1, [
    "sh",
    "-c",
    `curl -sS --max-time 200 http://${STACK_IP}/bytes/${size} | sha256sum`,
  ], 210_000);
  assertEquals(got.split(" ")[0], await patternSha256(size));
  await new Promise((r) => setTimeout(r, 300));
  const c = readStats(n).counters;
  await host.stop();
  return c;
}

/** The host receives `size` bytes from a kernel server; returns the host's counters. */
async function hostReceives(
  t: Topology,
  n: TcpNet,
  size: number,
  tcp: Record<string, unknown>,
  impair?: string,
): Promise<Record<string, number>> {
  const srv = t.spawn(n.k1, ["python3", "-c", PY_SERVER, "http", "8080", String(size)]);
  await srv.waitFor("listening");
  const fetch = await startHost(t, n, ["fetch", KERNEL_IP, "8080", "/"], tcp, impair);
  await fetch.waitFor(/status \d+ bytes \d+ sha256 \w+/, 200_000);
  const m = fetch.output().match(/status (\d+) bytes (\d+) sha256 (\w+)/)!;
  assertEquals(Number(m[2]), size);
  assertEquals(m[3], await patternSha256(size));
  await fetch.status;
  await srv.stop();
  return readStats(n).counters;
}

netnsTest("100 MB each way under 2% random loss each way (CUBIC)", async (t) => {
  const n = await buildTcpNet(t);
  await lossy(t, n);
  const sent = await hostSends(t, n, 100 * MB, {});
  assert((sent["tcp.retransmits"] ?? 0) > 100, JSON.stringify(sent));
  assert((sent["tcp.fast_retransmits"] ?? 0) > 10, JSON.stringify(sent));
  const recv = await hostReceives(t, n, 100 * MB, {});
  assert((recv["tcp.ooo_segments"] ?? 0) > 100, JSON.stringify(recv));
  assert((await drops(t, n)) > 1000, "nftables dropped segments");
}, 420_000);

netnsTest("20 MB each way under 2% random loss each way (NewReno, no SACK)", async (t) => {
  const n = await buildTcpNet(t);
  await lossy(t, n);
  const tcp = { congestion: "newreno", sack: false };
  const sent = await hostSends(t, n, 20 * MB, tcp);
  assert((sent["tcp.fast_retransmits"] ?? 0) > 0, JSON.stringify(sent));
  await hostReceives(t, n, 20 * MB, tcp);
}, 300_000);

netnsTest(
  "20 MB each way through loss 2%, reorder 5%, dup 1%, delay 5 ms (impaired TAP)",
  async (t) => {
    const n = await buildTcpNet(t);
    const impair = "loss=2%,reorder=5%,dup=1%,delay=5ms";
    const sent = await hostSends(t, n, 20 * MB, {}, impair);
    assert((sent["tcp.retransmits"] ?? 0) > 0, JSON.stringify(sent));
    assert((sent["tcp.dup_acks"] ?? 0) > 0, JSON.stringify(sent));
    const recv = await hostReceives(t, n, 20 * MB, {}, impair);
    assert((recv["tcp.ooo_segments"] ?? 0) > 0, JSON.stringify(recv));
  },
  300_000,
);
