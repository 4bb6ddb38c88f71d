/**
 * The balancer in direct-routing mode in front of kernel real servers (VIP on lo, arp_ignore=1,
 * arp_announce=2, python3 -m http.server), with curl and python clients in a client namespace
 * behind a kernel router (tests/netns/_lb_net.ts draws the network).
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import {
  buildLbNet,
  CLIENT_IP,
  counters,
  curlRequests,
  LB_MAC,
  lbJson,
  type LbNet,
  lbText,
  removeDirs,
  requestsFromPorts,
  sha256File,
  startBalancer,
  startHttpServers,
  startUdpResponders,
  tally,
  tcpSegments,
  udpRequests,
  VIP,
  writeBigFile,
} from "./_lb_net.ts";

const reals3 = ["--real", "10.77.0.11", "--real", "10.77.0.12", "--real", "10.77.0.13"];

/**
 * A small TCP receive buffer on the client, so `curl --limit-rate` paces the transfer on the
 * wire (with Linux's default 6 MB autotuned buffer, a few MB arrive at once and wait there).
 */
async function smallReceiveBuffer(net: LbNet): Promise<void> {
  await net.t.execOk(net.client, ["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
}

netnsTest(
  "dr rr: 300 new connections split exactly, UDP too; replies bypass the balancer",
  async (t) => {
    try {
      const net = await buildLbNet(t, 3, "dr");
      await startHttpServers(net);
      await startUdpResponders(net, VIP, 53);
      const lb = await startBalancer(net, [
        "--service",
        "tcp:10.77.0.100:80",
        "--scheduler",
        "rr",
        "--method",
        "dr",
        ...reals3,
        "--service",
        "udp:10.77.0.100:53",
        "--scheduler",
        "rr",
        ...reals3,
      ]);
      const names = await curlRequests(net, 300);
      assertEquals(names.length, 300);
      assertEquals(tally(names), { r1: 100, r2: 100, r3: 100 });
      // rr is exact: the same cycle all the way through.
      for (let i = 3; i < names.length; i++) assertEquals(names[i], names[i - 3], `request ${i}`);

      const udp = await udpRequests(net, 53, 60);
      assertEquals(tally(udp), { r1: 20, r2: 20, r3: 20 });

      const list = await lbText(net, ["list"]);
      assertMatch(list, /^IP Virtual Server version 1\.2\.1 \(size=\d+\)$/m);
      assertMatch(list, /^TCP {2}10\.77\.0\.100:80 rr$/m);
      assertMatch(list, /^UDP {2}10\.77\.0\.100:53 rr$/m);
      assertMatch(list, /^ {2}-> 10\.77\.0\.11:80 {16}Route {3}1 {6}\d+ +\d+ +$/m);
      const stats = await lbJson<{ services: { conns: number; packetsOut: number }[] }>(net, [
        "list",
      ]);
      assertEquals(stats.services.map((s) => s.conns), [300, 60]);
      assertEquals(stats.services.map((s) => s.packetsOut), [0, 0], "DR never sees replies");
      const conns = await lbText(net, ["conns"]);
      assertMatch(conns, /^pro expire state {7}source {13}virtual {12}destination$/m);
      // `list --conns` is the same table, as `ipvsadm -L -c` is.
      const listConns = await lbText(net, ["list", "--conns"]);
      assertMatch(listConns, /^pro expire state {7}source {13}virtual {12}destination$/m);
      assertMatch(
        conns,
        /^TCP \d\d:\d\d {2}FIN_WAIT {4}10\.78\.0\.10:\d+ +10\.77\.0\.100:80 +10\.77\.0\.1\d:80$/m,
      );

      // The capture on the TAP: the replies (source port 80) never pass through the balancer,
      // and every TCP segment it sent is a client segment toward the VIP, forwarded to a real
      // server's MAC: nothing it originated, no SYN-ACK.
      await lb.stop();
      const segs = await tcpSegments(net.pcap);
      assert(segs.length >= 300 * 5, `only ${segs.length} segments captured`);
      assertEquals(segs.filter((s) => s.sport === 80), [], "no reply crossed the balancer");
      const sent = segs.filter((s) => s.srcMac === LB_MAC);
      const realMacs = new Set(net.reals.map((r) => r.mac));
      assert(sent.length > 0);
      for (const s of sent) {
        assertEquals([s.src, s.dst, s.dport], [CLIENT_IP, VIP, 80], JSON.stringify(s));
        assert(realMacs.has(s.dstMac), `sent to ${s.dstMac}, not a real server`);
      }
      const received = new Set(
        segs.filter((s) => s.dstMac === LB_MAC).map((s) =>
          `${s.sport} ${s.flags} ${s.seq} ${s.ack}`
        ),
      );
      for (const s of sent) assert(received.has(`${s.sport} ${s.flags} ${s.seq} ${s.ack}`));
    } finally {
      removeDirs();
    }
  },
);

netnsTest("dr wrr follows the weights; sh keeps each client on one server", async (t) => {
  try {
    const net = await buildLbNet(t, 3, "dr", ["10.78.0.11", "10.78.0.12", "10.78.0.13"]);
    await startHttpServers(net);
    let lb = await startBalancer(net, [
      "--service",
      "tcp:10.77.0.100:80",
      "--scheduler",
      "wrr",
      "--real",
      "10.77.0.11,weight=3",
      "--real",
      "10.77.0.12,weight=2",
      "--real",
      "10.77.0.13,weight=1",
    ]);
    const names = await curlRequests(net, 120);
    assertEquals(tally(names), { r1: 60, r2: 40, r3: 20 });
    // IPVS's interleaved wrr: each cycle of 6 is r1 r1 r2 r1 r2 r3.
    // IPVS's interleaved wrr: a cycle of 6 (3 + 2 + 1) repeats, e.g. r1 r1 r2 r1 r2 r3 (where
    // the cycle starts depends on how the servers were added, as with ipvsadm -a one by one).
    for (let i = 6; i < names.length; i++) assertEquals(names[i], names[i - 6], `request ${i}`);
    assertEquals(tally(names.slice(0, 6)), { r1: 3, r2: 2, r3: 1 });
    const list = await lbText(net, ["list"]);
    assertMatch(list, /-> 10\.77\.0\.11:80 +Route +3 /);
    await lb.stop();

    lb = await startBalancer(net, [
      "--service",
      "tcp:10.77.0.100:80",
      "--scheduler",
      "sh",
      ...reals3,
    ]);
    const seen = new Set<string>();
    for (const src of [CLIENT_IP, "10.78.0.11", "10.78.0.12", "10.78.0.13"]) {
      const got = tally(await curlRequests(net, 25, src));
      assertEquals(Object.values(got), [25], `${src}: ${JSON.stringify(got)}`);
      seen.add(Object.keys(got)[0]);
    }
    assert(seen.size >= 2, "four clients all hashed to one server");
    await lb.stop();
  } finally {
    removeDirs();
  }
});

netnsTest(
  "dr: a 20 MB download keeps its real server while new flows are spread and a SYN flood fills the table",
  async (t) => {
    try {
      const net = await buildLbNet(t, 3, "dr");
      await smallReceiveBuffer(net);
      writeBigFile(net, "big", 20 << 20);
      const want = await sha256File(`${net.reals[0].dir}/big`);
      const other = await sha256File(`${net.reals[1].dir}/big`);
      assert(want !== other, "each server's file differs, so a switch would show");
      await startHttpServers(net);
      const maxConns = 64;
      await startBalancer(net, [
        "--service",
        "tcp:10.77.0.100:80",
        "--scheduler",
        "rr",
        ...reals3,
        "--max-conns",
        String(maxConns),
      ]);
      // The long flow: the first connection, so rr sends it to r1.
      const out = t.tempPath("big.out");
      const download = t.exec(net.client, [
        "curl",
        "-sS",
        "--max-time",
        "60",
        "--limit-rate",
        "4M",
        "-o",
        out,
        `http://${VIP}/big`,
      ], 90_000);
      await new Promise((r) => setTimeout(r, 700));
      // New connections meanwhile go round robin over all three.
      const names = await curlRequests(net, 30);
      assertEquals(tally(names), { r1: 10, r2: 10, r3: 10 });
      // A bounded SYN flood from a fixed source inside the test subnet (each SYN a new port).
      const flood = t.exec(net.client, [
        "hping3",
        "-q",
        "-S",
        "-p",
        "80",
        "-c",
        "400",
        "-i",
        "u2500",
        VIP,
      ], 30_000);
      let maxSeen = 0;
      for (let i = 0; i < 8; i++) {
        const c = await lbJson<{ size: number; capacity: number }>(net, ["conns"]);
        assertEquals(c.capacity, maxConns);
        maxSeen = Math.max(maxSeen, c.size);
        assert(c.size <= maxConns, `table holds ${c.size} > ${maxConns}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      // A full table of embryonic flows still takes legitimate clients: each one evicts the
      // oldest half-open entry.
      const during = await curlRequests(net, 9);
      assertEquals(tally(during), { r1: 3, r2: 3, r3: 3 });
      await flood;
      assertEquals(maxSeen, maxConns, "the flood filled the table");
      const c = await counters(net);
      assert((c["lb.conn_evicted_embryonic"] ?? 0) > 100, JSON.stringify(c));
      assertEquals(c["lb.drop_table_full"] ?? 0, 0);
      const snap = await lbJson<
        { connections: number; table: { refused: number; evicted: number } }
      >(
        net,
        ["list"],
      );
      assert(snap.connections <= maxConns);
      assert(snap.table.evicted > 100);
      assertEquals(snap.table.refused, 0);
      // The established download was untouched: complete, and from r1 only.
      const r = await download;
      assertEquals(r.code, 0, r.stderr);
      assertEquals(await sha256File(out), want);
    } finally {
      removeDirs();
    }
  },
  150_000,
);

netnsTest(
  "dr mh: removing one of 4 servers moves about 1/4 of flows; mh flows survive a balancer restart, rr ones do not",
  async (t) => {
    try {
      const net = await buildLbNet(t, 4, "dr");
      await smallReceiveBuffer(net);
      writeBigFile(net, "mid", 3 << 20);
      await startHttpServers(net);
      const svc = (sched: string, n: number) => [
        "--service",
        "tcp:10.77.0.100:80",
        "--scheduler",
        sched,
        ...net.reals.slice(0, n).flatMap((r) => ["--real", r.ip]),
      ];
      let lb = await startBalancer(net, svc("mh", 4));
      const before = await requestsFromPorts(net, 42000, 160);
      await lb.stop();
      lb = await startBalancer(net, svc("mh", 3));
      const after = await requestsFromPorts(net, 42000, 160);
      await lb.stop();
      const ports = Object.keys(before);
      assertEquals(ports.length, 160);
      assert(ports.every((p) => before[p] !== null && after[p] !== null), "every request answered");
      const onR4 = ports.filter((p) => before[p] === "r4");
      const stayed = ports.filter((p) => before[p] !== "r4");
      assert(onR4.length > 160 / 4 / 2 && onR4.length < 160 / 4 * 2, `r4 had ${onR4.length}`);
      assert(onR4.every((p) => after[p] !== "r4"));
      const moved = stayed.filter((p) => after[p] !== before[p]).length;
      // Maglev: besides r4's flows, only a small fraction moves (minimal disruption).
      assert(moved <= stayed.length * 0.1, `${moved} of ${stayed.length} other flows moved`);

      // A download across a balancer restart: with mh its packets find the same server again.
      // The client's receive buffer is kept small: with the kernel's autotuned one (megabytes)
      // the server could push most of the file before the restart, and an rr download would
      // then finish from the client's buffer although its ACKs were dropped.
      await t.execOk(net.client, ["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
      for (const sched of ["mh", "rr"]) {
        lb = await startBalancer(net, svc(sched, 3));
        const out = t.tempPath(`mid-${sched}.out`);
        const dl = t.exec(net.client, [
          "curl",
          "-sS",
          "--max-time",
          // rr: long enough that the restarted balancer (slow to start on a loaded machine) is up
          // while the client still sends, so its packets are seen and dropped as unknown flows:
          // the client's retransmissions back off (about 7 s and 14 s after the kill), and a
          // restart that took longer than 7 s once left none before a 15 s limit.
          "30",
          "--limit-rate",
          "512K",
          "-o",
          out,
          `http://${VIP}/mid`,
        ], 60_000);
        await new Promise((r) => setTimeout(r, 1000));
        // Killed, as a crash would: a graceful stop may go on forwarding while it ends, and a
        // loaded machine can make that last until the download is done.
        await lb.stop("SIGKILL");
        await new Promise((r) => setTimeout(r, 200));
        lb = await startBalancer(net, svc(sched, 3));
        const r = await dl;
        const c = await counters(net);
        await lb.stop();
        if (sched === "mh") {
          assertEquals(r.code, 0, r.stderr);
          const got = await sha256File(out);
          const all = await Promise.all(
            net.reals.slice(0, 3).map((x) => sha256File(`${x.dir}/mid`)),
          );
          assert(all.includes(got), "the download is one server's file, whole");
          assert((c["lb.mh_resumed"] ?? 0) >= 1, JSON.stringify(c));
          assertEquals(c["lb.drop_no_flow"] ?? 0, 0);
        } else {
          assert(r.code !== 0, "with rr the flow is lost after a restart");
          assert((c["lb.drop_no_flow"] ?? 0) >= 1, JSON.stringify(c));
        }
      }
    } finally {
      removeDirs();
    }
  },
  180_000,
);
