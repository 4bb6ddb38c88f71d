/**
 * Path MTU discovery across the balancer for an IPv6 service: the router's link toward the client
 * carries 1400 bytes while the client's MSS allows 1500-byte packets. IPv6 routers never fragment:
 * the router answers ICMPv6 Packet Too Big (RFC 4443 3.2) to the packets' source, the VIP. The
 * balancer hands it to the flow's real server (DR: as it is; NAT: translated), which lowers its
 * path MTU (RFC 8201), and a 20 MB download through the VIP completes exactly. A capture on the
 * real server shows it got the error, quoting its own flow.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest, type Topology } from "./topology.ts";
import { formatIpv6 } from "../../stack/wire/address6.ts";
import { counters, type LbNet, sha256File, startLb, writeBigFile } from "./_lb_net.ts";
import { buildLb6Net, LB6_FLAGS, removeDirs6, startHttpServers6, VIP6 } from "./_lb6_net.ts";

async function pmtuRun(t: Topology, method: "dr" | "nat"): Promise<void> {
  let net: LbNet | null = null;
  try {
    net = await buildLb6Net(t, 1, method);
    const real6 = "2001:db8:77::11";
    await t.execOk(net.router, ["ip", "link", "set", "eth1", "mtu", "1400"]);
    writeBigFile(net, "big", 20 << 20);
    const want = await sha256File(`${net.reals[0].dir}/big`);
    await startHttpServers6(net, 80);
    await startLb(net, [
      ...LB6_FLAGS,
      "--service",
      `tcp:[${VIP6}]:80`,
      "--method",
      method,
      "--real",
      `[${real6}]:80`,
    ]);
    // The real server's view: ICMPv6 type 2, Packet Too Big.
    const dump = t.spawn(net.reals[0].ns, [
      "tcpdump",
      "-i",
      "eth0",
      "-n",
      "-l",
      "-v",
      "-x",
      "-c",
      "1",
      "icmp6 and ip6[40] == 2",
    ]);
    await dump.waitFor("listening on", 10_000);
    const out = t.tempPath("big.out");
    const r = await t.exec(net.client, [
      "curl",
      "-6",
      "-sS",
      "--max-time",
      "60",
      "-o",
      out,
      "-w",
      "%{size_download}",
      `http://[${VIP6}]/big`,
    ], 90_000);
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, String(20 << 20));
    assertEquals(await sha256File(out), want);
    await dump.waitFor("1 packet captured", 10_000);
    const text = dump.output();
    assertMatch(text, /packet too big, mtu 1400/);
    // Addressed to the real server (NAT) or to the VIP it holds (DR), quoting its own flow.
    const to = method === "nat" ? real6 : VIP6;
    assert(text.includes(`> ${to}: [icmp6 sum ok] ICMP6, packet too big`), text);
    // The quote (from byte 48 of the IPv6 packet: 40 header + 8 ICMPv6) is the real server's
    // own packet: its source address (quote bytes 8..24) and source port 80.
    const hex = [...text.matchAll(/^\s+0x[0-9a-f]+:\s+((?:[0-9a-f]{4} ?)+)/gm)]
      .map((m) => m[1].replace(/ /g, "")).join("");
    const bytes = hex.match(/../g)!.map((h) => parseInt(h, 16));
    const quotedSrc = formatIpv6(Uint8Array.from(bytes.slice(48 + 8, 48 + 24)));
    assertEquals(quotedSrc, method === "nat" ? real6 : VIP6, text);
    assertEquals((bytes[88] << 8) | bytes[89], 80, "the quoted source port");
    const c = await counters(net);
    assert((c["lb.icmp_to_real"] ?? 0) >= 1, JSON.stringify(c));
  } finally {
    removeDirs6(net);
  }
}

netnsTest(
  "ipv6 pmtu dr: Packet Too Big for the VIP reaches the real server; 20 MB completes",
  (t) => pmtuRun(t, "dr"),
);

netnsTest(
  "ipv6 pmtu nat: Packet Too Big translated for the real server; 20 MB completes",
  (t) => pmtuRun(t, "nat"),
);
