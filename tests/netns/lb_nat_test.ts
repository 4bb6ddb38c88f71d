/**
 * The balancer in NAT mode in front of kernel real servers whose default route is the balancer
 * (python3 -m http.server on port 8080 behind VIP:80), with clients behind a kernel router
 * (tests/netns/_lb_net.ts draws the network).
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import {
  buildLbNet,
  CLIENT_IP,
  counters,
  curlRequests,
  LB_IP,
  LB_MAC,
  lbJson,
  lbText,
  PY,
  removeDirs,
  startBalancer,
  startHttpServers,
  startUdpResponders,
  tally,
  tcpSegments,
  udpRequests,
  VIP,
} from "./_lb_net.ts";

const natService = [
  "--service",
  "tcp:10.77.0.100:80",
  "--scheduler",
  "rr",
  "--method",
  "nat",
  "--real",
  "10.77.0.11:8080",
  "--real",
  "10.77.0.12:8080",
  "--real",
  "10.77.0.13:8080",
  "--service",
  "udp:10.77.0.100:53",
  "--scheduler",
  "rr",
  "--method",
  "nat",
  "--real",
  "10.77.0.11:5353",
  "--real",
  "10.77.0.12:5353",
  "--real",
  "10.77.0.13:5353",
];

netnsTest(
  "nat rr: 300 connections and UDP through address and port rewriting; every segment to the client is a real server's",
  async (t) => {
    try {
      const net = await buildLbNet(t, 3, "nat");
      await startHttpServers(net, 8080);
      await startUdpResponders(net, "0.0.0.0", 5353);
      const lb = await startBalancer(net, natService);
      const names = await curlRequests(net, 300);
      assertEquals(tally(names), { r1: 100, r2: 100, r3: 100 });
      for (let i = 3; i < names.length; i++) assertEquals(names[i], names[i - 3], `request ${i}`);
      const udp = await udpRequests(net, 53, 30);
      assertEquals(tally(udp), { r1: 10, r2: 10, r3: 10 }, "answers come from VIP:53");

      const list = await lbText(net, ["list"]);
      assertMatch(list, /^ {2}-> 10\.77\.0\.12:8080 {14}Masq {4}1 {6}\d+ +\d+ +$/m);
      const stats = await lbText(net, ["list", "--stats"]);
      assertMatch(
        stats,
        /^Prot LocalAddress:Port {15}Conns {3}InPkts {2}OutPkts {2}InBytes OutBytes$/m,
      );
      assertMatch(stats, /^TCP {2}10\.77\.0\.100:80 {20}300 +\d+ +\d+ +\d+ +\d+$/m);
      const snap = await lbJson<{ services: { packetsIn: number; packetsOut: number }[] }>(net, [
        "list",
      ]);
      assert(snap.services[0].packetsOut >= 300 * 3, "replies come back through the balancer");
      assertEquals(snap.services[1].packetsOut, 30);

      // The capture: every TCP segment the balancer sent toward the client carries the VIP as its
      // source and is a real server's segment (same flags, sequence, acknowledgment, length) that
      // it received: it never answered a SYN or originated a segment itself.
      await lb.stop();
      const segs = await tcpSegments(net.pcap);
      const fromReals = new Map<string, number>();
      const key = (s: { flags: string; seq: string; ack: string; len: number; dport: number }) =>
        `${s.dport} ${s.flags} ${s.seq} ${s.ack} ${s.len}`;
      for (const s of segs) {
        if (s.dstMac === LB_MAC && s.sport === 8080 && s.dst === CLIENT_IP) {
          fromReals.set(key(s), (fromReals.get(key(s)) ?? 0) + 1);
        }
      }
      const toClient = segs.filter((s) => s.srcMac === LB_MAC && s.dst === CLIENT_IP);
      assert(toClient.length >= 300 * 3, `${toClient.length} segments to the client`);
      let synAcks = 0;
      for (const s of toClient) {
        assertEquals([s.src, s.sport], [VIP, 80], JSON.stringify(s));
        const n = fromReals.get(key(s)) ?? 0;
        assert(n > 0, `segment to the client with no real server original: ${JSON.stringify(s)}`);
        fromReals.set(key(s), n - 1);
        if (s.flags === "S.") synAcks++;
      }
      assertEquals(synAcks, 300, "each SYN-ACK is a real server's, rewritten");
      assertEquals(
        segs.filter((s) => s.src === LB_IP).length,
        0,
        "no segment from the balancer's address",
      );
    } finally {
      removeDirs();
    }
  },
);

/** Malformed transport headers toward the VIP, sent with scapy (each 5 times). */
const MALFORMED = `
import sys
from scapy.all import IP, TCP, UDP, Raw, send, conf
conf.verb = 0
vip = sys.argv[1]
packets = [
    IP(dst=vip, proto=6) / Raw(b"\\x30\\x39\\x00\\x50" + b"\\x00" * 6),   # 10-byte TCP header
    IP(dst=vip) / TCP(sport=12345, dport=80, flags="S", dataofs=15),    # data offset past the end
    IP(dst=vip) / TCP(sport=12346, dport=80, flags="S", dataofs=2),     # data offset below 5
    IP(dst=vip) / UDP(sport=999, dport=53, len=200) / Raw(b"abcd"),     # UDP length past the end
    IP(dst=vip, proto=17) / Raw(b"\\x01"),                              # not even the ports
]
for p in packets:
    send(p, count=5)
print("sent", flush=True)
`;

netnsTest(
  "nat: malformed packets to the VIP are dropped and counted, and forwarding goes on",
  async (t) => {
    try {
      const net = await buildLbNet(t, 3, "nat");
      await startHttpServers(net, 8080);
      await startBalancer(net, natService);
      assertEquals(tally(await curlRequests(net, 3)), { r1: 1, r2: 1, r3: 1 });
      const out = await t.execOk(net.client, [PY, "-c", MALFORMED, VIP], 60_000);
      assertMatch(out, /sent/);
      assertEquals(tally(await curlRequests(net, 30)), { r1: 10, r2: 10, r3: 10 });
      const c = await counters(net);
      assertEquals(
        [
          c["lb.drop_malformed_tcp_truncated"],
          c["lb.drop_malformed_tcp_bad_offset"],
          c["lb.drop_malformed_udp_bad_length"],
          c["lb.drop_malformed_l4_truncated"],
        ],
        [5, 10, 5, 5],
        JSON.stringify(c),
      );
      const snap = await lbJson<{ services: { conns: number }[] }>(net, ["list"]);
      assertEquals(snap.services[0].conns, 33, "no flow was created for a malformed packet");
    } finally {
      removeDirs();
    }
  },
);
