/**
 * IPv6 services through the balancer's hook on a real Stack (tests/lb/_rig6.ts): every frame the
 * balancer sends is compared byte by byte with one built from scratch, checksums included.
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { ACK, diff, SYN } from "./_packets.ts";
import { checksum6, eth, ipv6, r16, udp6 } from "../stack/net/_frames.ts";
import {
  a6,
  CLIENT6,
  CLIENT_MAC,
  frame6,
  GW6,
  GW_MAC,
  icmp6Error,
  LB6,
  LB_MAC,
  REAL_MACS6,
  REALS6,
  rig6,
  tcp6Packet,
  VIP6,
} from "./_rig6.ts";
import { parseAddress } from "../../lb/address.ts";
import { VirtualService } from "../../lb/service.ts";

const ETH = 14;

function assertBytes(actual: Uint8Array, expected: Uint8Array, what: string): void {
  assertEquals(diff(actual, expected), "equal", what);
}

Deno.test("ipv6 dr: rr over the real servers, the packet unchanged to the real server's MAC", () => {
  const r = rig6([{ method: "dr", reals: [{ index: 0 }, { index: 1 }, { index: 2 }] }]);
  for (let i = 0; i < 3; i++) {
    const p = tcp6Packet(CLIENT6, VIP6, 40000 + i, 80, SYN);
    r.send(frame6(LB_MAC, CLIENT_MAC, p));
    const out = r.sent();
    assertEquals(out.length, 1);
    assertBytes(out[0], frame6(REAL_MACS6[i], LB_MAC, p), `flow ${i}`);
  }
  // A later segment of the first flow follows its entry.
  const ack = tcp6Packet(CLIENT6, VIP6, 40000, 80, ACK);
  r.send(frame6(LB_MAC, CLIENT_MAC, ack));
  assertBytes(r.sent()[0], frame6(REAL_MACS6[0], LB_MAC, ack), "the flow keeps its server");
  // A non-SYN without a flow is dropped and counted; the balancer never answers a SYN itself.
  r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(CLIENT6, VIP6, 41000, 80, ACK)));
  assertEquals(r.sent().length, 0);
  assertEquals(r.stack.counters.snapshot()["lb.drop_no_flow"], 1);
  const conns = r.balancer.connections().entries;
  assertEquals(conns[0].client, "[2001:db8::50]:40000");
  assertEquals(conns[0].virtual, "[2001:db8::100]:80");
  assertEquals(conns[0].real, "[2001:db8::11]:80");
  assertEquals(r.balancer.snapshot().services[0].vip, "2001:db8::100");
});

Deno.test("ipv6 nat: destination rewritten on the way in, source on the way out; checksums right", () => {
  const r = rig6([{ method: "nat", reals: [{ index: 0, port: 8080 }, { index: 1, port: 8080 }] }]);
  assert(r.stack.ipv6!.forwarding, "NAT turns IPv6 forwarding on");
  const data = new TextEncoder().encode("GET / HTTP/1.0\r\n\r\n");
  r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(CLIENT6, VIP6, 40000, 80, SYN, 64, data)));
  const expectIn = tcp6Packet(CLIENT6, REALS6[0], 40000, 8080, SYN, 64, data);
  assertBytes(r.sent()[0], frame6(REAL_MACS6[0], LB_MAC, expectIn), "to the real server");
  // The reply: source back to [VIP]:80, hop limit - 1, to the client.
  r.send(frame6(LB_MAC, REAL_MACS6[0], tcp6Packet(REALS6[0], CLIENT6, 8080, 40000, SYN | ACK)));
  const expectOut = tcp6Packet(VIP6, CLIENT6, 80, 40000, SYN | ACK, 63);
  assertBytes(r.sent()[0], frame6(CLIENT_MAC, LB_MAC, expectOut), "to the client");
  const snap = r.balancer.snapshot().services[0];
  assertEquals([snap.packetsIn, snap.packetsOut], [1, 1]);
  // A reply with hop limit 1 is not forwarded: Time Exceeded goes back to the real server.
  r.send(frame6(LB_MAC, REAL_MACS6[0], tcp6Packet(REALS6[0], CLIENT6, 8080, 40000, ACK, 1)));
  const te = r.sent();
  assertEquals(te.length, 1);
  assertEquals([te[0][ETH + 40], r16(te[0], ETH + 24)], [3, 0x2001], "ICMPv6 time exceeded");
  assertEquals(r.stack.counters.snapshot()["lb.drop_hop_limit_exceeded"], 1);
});

Deno.test("ipv6 nat udp: the mandatory checksum is updated, a zero one left zero", () => {
  const r = rig6([{ protocol: "udp", port: 53, method: "nat", reals: [{ index: 1, port: 5353 }] }]);
  const q = new TextEncoder().encode("query");
  r.send(
    frame6(
      LB_MAC,
      CLIENT_MAC,
      ipv6({ src: CLIENT6, dst: VIP6, nh: 17 }, udp6(CLIENT6, VIP6, 5000, 53, q)),
    ),
  );
  const want = ipv6(
    { src: CLIENT6, dst: REALS6[1], nh: 17 },
    udp6(CLIENT6, REALS6[1], 5000, 5353, q),
  );
  assertBytes(r.sent()[0], frame6(REAL_MACS6[1], LB_MAC, want), "udp in");
  r.send(
    frame6(
      LB_MAC,
      CLIENT_MAC,
      ipv6({ src: CLIENT6, dst: VIP6, nh: 17 }, udp6(CLIENT6, VIP6, 5001, 53, q, true)),
    ),
  );
  const zero = r.sent()[0];
  assertEquals(r16(zero, ETH + 40 + 6), 0, "no checksum stays no checksum");
});

Deno.test("ipv6 tun: IPv6-in-IPv6 to the real server; Packet Too Big past the MTU", () => {
  const r = rig6([{ protocol: "udp", port: 7, method: "tun", reals: [{ index: 2 }] }]);
  const small = ipv6(
    { src: CLIENT6, dst: VIP6, nh: 17, hlim: 57 },
    udp6(CLIENT6, VIP6, 5000, 7, new Uint8Array(100)),
  );
  r.send(frame6(LB_MAC, CLIENT_MAC, small));
  const outer = ipv6({ src: LB6, dst: REALS6[2], nh: 41, hlim: 57 }, small);
  assertBytes(r.sent()[0], frame6(REAL_MACS6[2], LB_MAC, outer), "encapsulated");
  // 1,460 + 40 = 1,500 fits; 1,461 + 40 does not and is over 1,280: Packet Too Big, MTU 1,460.
  const fits = ipv6(
    { src: CLIENT6, dst: VIP6, nh: 17 },
    udp6(CLIENT6, VIP6, 5000, 7, new Uint8Array(1412)),
  );
  r.send(frame6(LB_MAC, CLIENT_MAC, fits));
  assertEquals(r.sent()[0].length, ETH + 1500);
  const big = ipv6(
    { src: CLIENT6, dst: VIP6, nh: 17 },
    udp6(CLIENT6, VIP6, 5000, 7, new Uint8Array(1413)),
  );
  r.send(frame6(LB_MAC, CLIENT_MAC, big));
  const ptb = r.sent();
  assertEquals(ptb.length, 1);
  const f = ptb[0];
  assertBytes(f.subarray(0, ETH), eth(CLIENT_MAC, LB_MAC, 0x86dd), "to the client");
  assertBytes(f.subarray(ETH + 8, ETH + 24), VIP6, "from the VIP");
  assertEquals([f[ETH + 40], f[ETH + 41]], [2, 0], "Packet Too Big");
  assertEquals((r16(f, ETH + 44) << 16) | r16(f, ETH + 46), 1460);
  assertEquals(checksum6(f.subarray(ETH + 8, ETH + 24), CLIENT6, 58, f.subarray(ETH + 40)), 0);
  assertEquals(r.stack.counters.snapshot()["lb.tun_frag_needed"], 1);
});

Deno.test("ipv6 icmp: a router's Packet Too Big to the VIP reaches a NAT real server translated", () => {
  const r = rig6([{ method: "nat", reals: [{ index: 0, port: 8080 }] }]);
  r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(CLIENT6, VIP6, 40000, 80, SYN)));
  r.send(frame6(LB_MAC, REAL_MACS6[0], tcp6Packet(REALS6[0], CLIENT6, 8080, 40000, SYN | ACK)));
  r.sent();
  // The router quotes what it got: [VIP]:80 -> client.
  const quoted = tcp6Packet(VIP6, CLIENT6, 80, 40000, ACK, 63, new Uint8Array(1300));
  r.send(frame6(LB_MAC, GW_MAC, icmp6Error(GW6, VIP6, 2, 0, 1400, quoted)));
  const want = icmp6Error(
    GW6,
    REALS6[0],
    2,
    0,
    1400,
    tcp6Packet(REALS6[0], CLIENT6, 8080, 40000, ACK, 63, new Uint8Array(1300)),
  );
  const out = r.sent();
  assertEquals(out.length, 1);
  assertBytes(out[0], frame6(REAL_MACS6[0], LB_MAC, want), "translated for the real server");
  assertEquals(r.stack.counters.snapshot()["lb.icmp_to_real"], 1);
  // The real server's error about client -> real:8080 goes to the client as [VIP]:80's.
  const q2 = tcp6Packet(CLIENT6, REALS6[0], 40000, 8080, ACK);
  r.send(frame6(LB_MAC, REAL_MACS6[0], icmp6Error(REALS6[0], CLIENT6, 1, 4, 0, q2)));
  const want2 = icmp6Error(VIP6, CLIENT6, 1, 4, 0, tcp6Packet(CLIENT6, VIP6, 40000, 80, ACK));
  want2[7] = 63;
  assertBytes(r.sent()[0], frame6(CLIENT_MAC, LB_MAC, want2), "translated for the client");
  // A forged checksum is not relayed.
  const bad = icmp6Error(GW6, VIP6, 2, 0, 1400, quoted);
  bad[43] ^= 1;
  r.send(frame6(LB_MAC, GW_MAC, bad));
  assertEquals(r.sent().length, 0);
  assertEquals(r.stack.counters.snapshot()["lb.drop_icmp_bad_checksum"], 1);
});

Deno.test("ipv6 icmp: DR relays as is; an error about no known flow is dropped and counted", () => {
  const r = rig6([{ method: "dr", reals: [{ index: 1 }] }]);
  r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(CLIENT6, VIP6, 40000, 80, SYN)));
  r.sent();
  const ptb = icmp6Error(GW6, VIP6, 2, 0, 1400, tcp6Packet(VIP6, CLIENT6, 80, 40000, ACK));
  r.send(frame6(LB_MAC, GW_MAC, ptb));
  assertBytes(r.sent()[0], frame6(REAL_MACS6[1], LB_MAC, ptb), "unchanged, to the real server");
  r.send(
    frame6(
      LB_MAC,
      GW_MAC,
      icmp6Error(GW6, VIP6, 2, 0, 1400, tcp6Packet(VIP6, CLIENT6, 80, 1, ACK)),
    ),
  );
  assertEquals(r.sent().length, 0);
  assertEquals(r.stack.counters.snapshot()["lb.drop_icmp_no_flow"], 1);
});

Deno.test("ipv6: no real server left: ICMPv6 port unreachable from the VIP", () => {
  const r = rig6([{ method: "dr", reals: [{ index: 0 }] }]);
  const s = r.balancer.services.list()[0];
  s.editReal(s.reals[0].address, 0, { weight: 0 });
  r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(CLIENT6, VIP6, 40000, 80, SYN)));
  const f = r.sent()[0];
  assertBytes(f.subarray(ETH + 8, ETH + 24), VIP6, "from the VIP");
  assertEquals([f[ETH + 40], f[ETH + 41]], [1, 4]);
  assertEquals(r.stack.counters.snapshot()["lb.drop_no_real"], 1);
});

Deno.test("ipv6: a service's real servers are of its VIP's family", () => {
  const s = new VirtualService({ protocol: "tcp", vip: parseAddress("2001:db8::100")!, port: 80 });
  const e = assertThrows(() => s.addReal({ address: parseAddress("10.0.0.11")! }), RangeError);
  assert(e.message.includes("must be of its VIP's family"), e.message);
  const s4 = new VirtualService({ protocol: "tcp", vip: parseAddress("10.0.0.100")!, port: 80 });
  assertThrows(() => s4.addReal({ address: parseAddress("2001:db8::11")! }), RangeError);
  // A malformed IPv6 transport header is counted, and a packet to an IPv6 address that is no
  // VIP is left to the host.
  const r = rig6([{ method: "dr", reals: [{ index: 0 }] }]);
  r.send(
    frame6(
      LB_MAC,
      CLIENT_MAC,
      ipv6(
        { src: CLIENT6, dst: VIP6, nh: 6 },
        Uint8Array.of(0x9c, 0x40, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0),
      ),
    ),
  );
  assertEquals(r.stack.counters.snapshot()["lb.drop_malformed_tcp_truncated"], 1);
  r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(CLIENT6, a6("2001:db8::1"), 40000, 80, SYN)));
  assertEquals(r.balancer.conns.size, 0);
});

Deno.test("ipv6 persistence: a client keeps its server across connections, by its 128 bits", () => {
  const r = rig6([{ method: "dr", reals: [{ index: 0 }, { index: 1 }, { index: 2 }] }]);
  const s = r.balancer.services.list()[0];
  r.balancer.setPersistence(s, 300_000);
  const macOf = (client: Uint8Array, port: number) => {
    r.send(frame6(LB_MAC, CLIENT_MAC, tcp6Packet(client, VIP6, port, 80, SYN)));
    return r.sent()[0].subarray(0, 6).join(":");
  };
  const first = macOf(CLIENT6, 40000);
  for (let port = 40001; port < 40010; port++) assertEquals(macOf(CLIENT6, port), first);
  // Another client (only the network half differs) is scheduled on its own: rr moves on.
  assert(macOf(a6("2001:db9::50"), 40000) !== first);
});
