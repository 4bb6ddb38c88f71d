/**
 * IPv6 virtual services in front of kernel real servers (tests/netns/_lb6_net.ts draws the
 * dual-stack network): direct routing (the VIP on the real servers' `lo`) and NAT (the real
 * servers route through the balancer), with an IPv4 service served at the same time.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import {
  counters,
  curlRequests,
  LB_MAC,
  lbJson,
  type LbNet,
  lbText,
  sha256File,
  startBalancer,
  tally,
  writeBigFile,
} from "./_lb_net.ts";
import {
  buildLb6Net,
  CLIENT_IP6,
  LB6_FLAGS,
  removeDirs6,
  requests6,
  startHttpServers6,
  tcpSegments6,
  VIP6,
} from "./_lb6_net.ts";

const reals6 = (port = "") =>
  [11, 12, 13].flatMap((
    n,
  ) => ["--real", port === "" ? `2001:db8:77::${n}` : `[2001:db8:77::${n}]:${port}`]);

netnsTest(
  "ipv6 dr rr: 300 connections split exactly, a 20 MB download keeps its server, an IPv4 service beside it; no SYN-ACK from the balancer",
  async (t) => {
    let net: LbNet | null = null;
    try {
      net = await buildLb6Net(t, 3, "dr");
      await t.execOk(net.client, ["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
      writeBigFile(net, "big", 20 << 20);
      const want = await sha256File(`${net.reals[0].dir}/big`);
      assert(want !== await sha256File(`${net.reals[1].dir}/big`), "each server's file differs");
      await startHttpServers6(net, 80);
      const lb = await startBalancer(net, [
        ...LB6_FLAGS,
        "--service",
        `tcp:[${VIP6}]:80`,
        "--scheduler",
        "rr",
        "--method",
        "dr",
        ...reals6(),
        "--service",
        "tcp:10.77.0.100:80",
        "--scheduler",
        "rr",
        "--real",
        "10.77.0.11",
        "--real",
        "10.77.0.12",
        "--real",
        "10.77.0.13",
      ]);
      // The long flow first: rr gives it to r1.
      const out = t.tempPath("big.out");
      const download = t.exec(net.client, [
        "curl",
        "-6",
        "-sS",
        "--max-time",
        "60",
        "--limit-rate",
        "4M",
        "-o",
        out,
        `http://[${VIP6}]/big`,
      ], 90_000);
      await new Promise((r) => setTimeout(r, 700));
      const names = await requests6(net, 300);
      assertEquals(tally(names), { r1: 100, r2: 100, r3: 100 });
      for (let i = 3; i < names.length; i++) assertEquals(names[i], names[i - 3], `request ${i}`);
      // The IPv4 service of the same balancer, at the same time.
      assertEquals(tally(await curlRequests(net, 30)), { r1: 10, r2: 10, r3: 10 });

      const list = await lbText(net, ["list"]);
      assertMatch(list, /^TCP {2}\[2001:db8:77::100\]:80 rr$/m);
      assertMatch(list, /^ {2}-> \[2001:db8:77::12\]:80 {9}Route {3}1 {6}\d+ +\d+ +$/m);
      assertMatch(list, /^TCP {2}10\.77\.0\.100:80 rr$/m);
      const conns = await lbText(net, ["conns"]);
      assertMatch(conns, /\[2001:db8:78::10\]:\d+ +\[2001:db8:77::100\]:80 \[2001:db8:77::11\]:80/);
      const snap = await lbJson<{ services: { vip: string; conns: number }[] }>(net, ["list"]);
      assertEquals(snap.services.map((s) => [s.vip, s.conns]), [[VIP6, 301], ["10.77.0.100", 30]]);

      const r = await download;
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await sha256File(out), want, "the download stayed on r1");

      // The capture: the balancer sent the client's segments on to real servers' MACs, and never
      // a SYN-ACK or any segment from the VIP (the real servers answer the client directly).
      await lb.stop();
      const segs = await tcpSegments6(net.pcap);
      const sent = segs.filter((s) => s.srcMac === LB_MAC);
      assert(sent.length >= 301 * 3, `${sent.length} segments forwarded`);
      const realMacs = new Set(net.reals.map((x) => x.mac));
      for (const s of sent) {
        assertEquals([s.src, s.dst, s.dport], [CLIENT_IP6, VIP6, 80], JSON.stringify(s));
        assert(realMacs.has(s.dstMac), `to a real server's MAC: ${JSON.stringify(s)}`);
      }
      assertEquals(segs.filter((s) => s.flags.includes("S") && s.flags.includes(".")).length, 0);
      assertEquals(segs.filter((s) => s.src === VIP6).length, 0, "no reply passed the balancer");
    } finally {
      removeDirs6(net);
    }
  },
  150_000,
);

netnsTest(
  "ipv6 nat rr: 300 connections through address and port rewriting; every segment to the client is a real server's",
  async (t) => {
    let net: LbNet | null = null;
    try {
      net = await buildLb6Net(t, 3, "nat");
      writeBigFile(net, "big", 20 << 20);
      await startHttpServers6(net, 8080);
      const lb = await startBalancer(net, [
        ...LB6_FLAGS,
        "--service",
        `tcp:[${VIP6}]:80`,
        "--scheduler",
        "rr",
        "--method",
        "nat",
        ...reals6("8080"),
      ]);
      const names = await requests6(net, 300);
      assertEquals(tally(names), { r1: 100, r2: 100, r3: 100 });
      const list = await lbText(net, ["list"]);
      assertMatch(list, /^ {2}-> \[2001:db8:77::13\]:8080 {7}Masq {4}1 {6}\d+ +\d+ +$/m);
      const snap = await lbJson<{ services: { packetsOut: number }[] }>(net, ["list"]);
      assert(snap.services[0].packetsOut >= 300 * 3, "replies come back through the balancer");
      // A 20 MB download through both rewrites (with offloads the kernel hands the real server's
      // data over as TCP super-frames with partial checksums): it arrives intact.
      const out = t.tempPath("big.out");
      const dl = await t.exec(net.client, [
        "curl",
        "-6",
        "-sS",
        "--max-time",
        "60",
        "-o",
        out,
        `http://[${VIP6}]/big`,
      ], 90_000);
      assertEquals(dl.code, 0, dl.stderr);
      const got = await sha256File(out);
      const want = await Promise.all(net.reals.map((r) => sha256File(`${r.dir}/big`)));
      assertEquals(want.indexOf(got), 0, "r1's file, whole (rr: the 301st flow)");
      const c = await counters(net);
      assertEquals(c["lb.drop_tx_failed"] ?? 0, 0);
      // The admin verbs with ipvsadm's brackets: r3 quiesced, the rest share new flows; `save`
      // prints the IPv6 configuration.
      await lbText(net, [
        "edit-server",
        "-t",
        `[${VIP6}]:80`,
        "-r",
        "[2001:db8:77::13]:8080",
        "-w",
        "0",
      ]);
      assertEquals(tally(await requests6(net, 20)), { r1: 10, r2: 10 });
      // 300 + the download + 20 connections.
      const saved = JSON.parse(await lbText(net, ["save"]));
      assertEquals(saved.services[0].vip, VIP6);
      assertEquals(
        saved.services[0].reals.map((
          r: { address: string; weight: number },
        ) => [r.address, r.weight]),
        [["2001:db8:77::11", 1], ["2001:db8:77::12", 1], ["2001:db8:77::13", 0]],
      );

      await lb.stop();
      const segs = await tcpSegments6(net.pcap);
      const key = (s: { flags: string; seq: string; ack: string; len: number; dport: number }) =>
        `${s.dport} ${s.flags} ${s.seq} ${s.ack} ${s.len}`;
      const fromReals = new Map<string, number>();
      for (const s of segs) {
        if (s.dstMac === LB_MAC && s.sport === 8080 && s.dst === CLIENT_IP6) {
          fromReals.set(key(s), (fromReals.get(key(s)) ?? 0) + 1);
        }
      }
      const toClient = segs.filter((s) => s.srcMac === LB_MAC && s.dst === CLIENT_IP6);
      assert(toClient.length >= 300 * 3, `${toClient.length} segments to the client`);
      // A real server may retransmit a SYN-ACK (the first one waits while the balancer resolves
      // the router): count connections, not segments.
      const synAcks = new Set<string>();
      for (const s of toClient) {
        assertEquals([s.src, s.sport], [VIP6, 80], JSON.stringify(s));
        const n = fromReals.get(key(s)) ?? 0;
        assert(n > 0, `segment to the client with no real server original: ${JSON.stringify(s)}`);
        fromReals.set(key(s), n - 1);
        if (s.flags === "S.") synAcks.add(`${s.dport} ${s.seq}`);
      }
      assertEquals(synAcks.size, 321, "each SYN-ACK is a real server's, rewritten");
      // Toward the real servers: the destination became the real server's address and port.
      const toReals = segs.filter((s) => s.srcMac === LB_MAC && s.src === CLIENT_IP6);
      assert(toReals.length >= 300 * 3);
      for (const s of toReals) assertEquals(s.dport, 8080, JSON.stringify(s));
    } finally {
      removeDirs6(net);
    }
  },
  150_000,
);
