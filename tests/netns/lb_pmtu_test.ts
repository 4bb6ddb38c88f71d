/**
 * Path MTU discovery across the balancer: the router between the balancer's link and the client
 * has a 1400-byte MTU on its client side, while the client advertises an MSS for 1500 bytes. The
 * real server's full-size segments (DF set, as Linux sends them) cannot pass the router, which
 * answers "fragmentation needed" to their source, the VIP. The balancer hands the error to the
 * flow's real server (DR: as it is; NAT: translated), which lowers its segment size, and a 20 MB
 * download through the VIP completes exactly. A capture on the real server shows it got the
 * error, quoting its own flow.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest, type Topology } from "./topology.ts";
import {
  buildLbNet,
  counters,
  removeDirs,
  sha256File,
  startHttpServers,
  startLb,
  VIP,
  writeBigFile,
} from "./_lb_net.ts";

async function pmtuRun(t: Topology, method: "dr" | "nat"): Promise<void> {
  try {
    const net = await buildLbNet(t, 1, method);
    const real = net.reals[0];
    // The router's far link (toward the client) carries at most 1400 bytes.
    await t.execOk(net.router, ["ip", "link", "set", "eth1", "mtu", "1400"]);
    writeBigFile(net, "big", 20 << 20);
    const want = await sha256File(`${real.dir}/big`);
    await startHttpServers(net);
    await startLb(net, [
      "--service",
      `tcp:${VIP}:80`,
      "--scheduler",
      "rr",
      "--method",
      method,
      "--real",
      method === "nat" ? `${real.ip}:80` : real.ip,
    ]);
    // The real server's view: ICMP destination unreachable, fragmentation needed.
    const cap = t.tempPath("pmtu.txt");
    const dump = t.spawn(real.ns, [
      "tcpdump",
      "-i",
      "eth0",
      "-n",
      "-l",
      "-v",
      "-c",
      "1",
      "icmp[icmptype] == 3 and icmp[icmpcode] == 4",
    ]);
    await dump.waitFor("listening on", 10_000);
    const out = t.tempPath("big.out");
    const r = await t.exec(net.client, [
      "curl",
      "-sS",
      "--max-time",
      "60",
      "-o",
      out,
      "-w",
      "%{size_download}",
      `http://${VIP}/big`,
    ], 90_000);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, String(20 << 20));
    assertEquals(await sha256File(out), want);
    await dump.waitFor("1 packet captured", 10_000);
    const text = dump.output();
    Deno.writeTextFileSync(cap, text);
    // tcpdump -v: "ICMP VIP unreachable - need to frag (mtu 1400)", addressed to the real server
    // (NAT) or to the VIP it holds (DR), quoting the real server's own flow.
    assertMatch(text, /need to frag \(mtu 1400\)/);
    const to = method === "nat" ? real.ip : VIP;
    assert(text.includes(`> ${to}: ICMP`), text);
    const from = method === "nat" ? `${real.ip}.80 >` : `${VIP}.80 >`;
    assert(text.includes(from), `the quote names the real server's own flow: ${text}`);
    const c = await counters(net);
    assert((c["lb.icmp_to_real"] ?? 0) >= 1, JSON.stringify(c));
  } finally {
    removeDirs();
  }
}

netnsTest(
  "pmtu dr: frag-needed for the VIP reaches the real server; 20 MB with DF completes",
  (t) => pmtuRun(t, "dr"),
);

netnsTest(
  "pmtu nat: frag-needed translated to the real server; 20 MB with DF completes",
  (t) => pmtuRun(t, "nat"),
);
