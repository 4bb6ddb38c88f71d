/**
 * The balancer's flow rules on a Stack over a memory device: scheduling at the client's first
 * SYN only, the mh exception for unknown non-SYN packets (flows survive a restart), port reuse,
 * the table bound, malformed headers, expiry from the stack's tick, weight 0, VIP ownership.
 */
import { assert, assertEquals } from "../assert.ts";
import { Balancer } from "../../lb/balancer.ts";
import { VirtualService } from "../../lb/service.ts";
import { ACK, FIN, frame, ipv4, PSH, r32, RST, SYN, tcpPacket, udp } from "./_packets.ts";
import { arp, concat, eth, icmpEcho, mac, pattern } from "../stack/net/_frames.ts";
import { createMemoryDevice } from "../../stack/link/memory.ts";
import { Stack } from "../../stack/net/stack.ts";
import { FakeClock } from "../../stack/clock.ts";
import {
  CLIENT,
  CLIENT_MAC,
  LB,
  LB_MAC,
  REAL1,
  REAL2,
  REAL3,
  REAL_MACS,
  rig,
  type RigOptions,
  VIP,
} from "./_rig.ts";

const MAC_TO_REAL = new Map([...REAL_MACS].map(([ip, m]) => [m.join(","), ip]));

/** Sends a client segment; returns the real server it went to (by MAC), or null. */
function seg(
  r: ReturnType<typeof rig>,
  sport: number,
  flags: number,
  opts: { dport?: number; src?: number } = {},
): number | null {
  const p = tcpPacket({ src: opts.src ?? CLIENT, dst: VIP, sport, dport: opts.dport ?? 80, flags });
  r.send(frame(LB_MAC, CLIENT_MAC, p));
  const out = r.sent();
  if (out.length === 0) return null;
  assertEquals(out.length, 1);
  return MAC_TO_REAL.get(out[0].subarray(0, 6).join(",")) ?? -1;
}

const three = (scheduler: "rr" | "mh" | "wrr", extra: Partial<RigOptions> = {}) =>
  rig({
    ...extra,
    services: [{
      scheduler,
      method: "dr",
      reals: [{ address: REAL1 }, { address: REAL2 }, { address: REAL3 }],
    }],
  });

Deno.test("flows are scheduled at the first SYN and every later packet follows them", () => {
  const r = three("rr");
  const picks = [40001, 40002, 40003, 40004].map((p) => seg(r, p, SYN));
  assertEquals(picks, [REAL1, REAL2, REAL3, REAL1]);
  // Later packets (and a retransmitted SYN) stay with their flow's server.
  assertEquals(seg(r, 40002, ACK), REAL2);
  assertEquals(seg(r, 40002, SYN), REAL2);
  assertEquals(seg(r, 40003, ACK | PSH), REAL3);
  assertEquals(r.balancer.conns.size, 4);
});

Deno.test("a non-SYN packet of an unknown flow is dropped and counted (not mh)", () => {
  const r = three("rr");
  for (const flags of [ACK, ACK | PSH, FIN | ACK, RST, SYN | ACK]) {
    assertEquals(seg(r, 41000 + flags, flags), null, `flags ${flags}`);
  }
  assertEquals(r.stack.counters.get("lb.drop_no_flow"), 5);
  assertEquals(r.balancer.conns.size, 0);
  assertEquals(r.verdicts.every((v) => v === "consumed"), true, "never passed to local delivery");
});

Deno.test("mh: a non-SYN packet of an unknown flow goes to the Maglev choice, and survives a restart", () => {
  const a = three("mh");
  const ports = Array.from({ length: 40 }, (_, i) => 42000 + i * 13);
  const bySyn = ports.map((p) => seg(a, p, SYN));
  // A second balancer (a restart: empty table) sees only the flows' later packets.
  const b = three("mh");
  const byAck = ports.map((p) => seg(b, p, ACK));
  assertEquals(byAck, bySyn);
  assertEquals(b.stack.counters.get("lb.mh_resumed"), ports.length);
  assertEquals(b.stack.counters.get("lb.drop_no_flow"), 0);
  // Entries were created; an ACK in NONE gives ESTABLISHED (IPVS's sloppy rule), so active.
  assertEquals(b.balancer.conns.size, ports.length);
  const states = new Set(b.balancer.connections().entries.map((e) => e.state));
  assertEquals([...states], ["ESTABLISHED"]);
  // The next packet of a resumed flow is an ordinary hit.
  assertEquals(seg(b, ports[0], ACK), bySyn[0]);
  assertEquals(b.stack.counters.get("lb.mh_resumed"), ports.length);
  // Several servers are used (the key includes the client port).
  assert(new Set(bySyn).size === 3, `picks ${bySyn}`);
});

Deno.test("a new SYN on a finished flow reschedules it (IPVS conn_reuse_mode)", () => {
  const r = three("rr");
  assertEquals(seg(r, 43000, SYN), REAL1);
  assertEquals(seg(r, 43000, ACK), REAL1);
  assertEquals(seg(r, 43000, FIN | ACK), REAL1); // DR input-only table: FIN_WAIT
  assertEquals(r.balancer.connections().entries[0].state, "FIN_WAIT");
  assertEquals(seg(r, 43000, SYN), REAL2, "port reused after close: scheduled again");
  assertEquals(r.stack.counters.get("lb.conn_reused"), 1);
  // RST after the handshake -> CLOSE, also reusable (a RST in SYN_RECV keeps SYN_RECV in IPVS's
  // tables, so the ACK comes first).
  assertEquals(seg(r, 43000, ACK), REAL2);
  assertEquals(seg(r, 43000, RST), REAL2);
  assertEquals(r.balancer.connections().entries[0].state, "CLOSE");
  assertEquals(seg(r, 43000, SYN), REAL3);
  assertEquals(r.balancer.conns.size, 1);
});

Deno.test("the table bound holds: full of established flows, new flows are dropped and counted", () => {
  const r = three("rr", { maxConns: 3 });
  assertEquals([1, 2, 3].map((i) => seg(r, 44000 + i, SYN)), [REAL1, REAL2, REAL3]);
  for (const i of [1, 2, 3]) seg(r, 44000 + i, ACK); // handshakes complete: nothing to evict
  for (let i = 4; i < 20; i++) assertEquals(seg(r, 44000 + i, SYN), null);
  assertEquals(r.balancer.conns.size, 3);
  assertEquals(r.stack.counters.get("lb.drop_table_full"), 16);
  assertEquals(r.balancer.conns.counters.refused, 16);
  assertEquals(seg(r, 44002, ACK), REAL2, "established flows keep working");
});

Deno.test("a SYN flood fills the table with embryonic flows; a legitimate client still gets in", () => {
  const r = three("rr", { maxConns: 64 });
  // An established flow from before the flood.
  assertEquals(seg(r, 1000, SYN), REAL1);
  seg(r, 1000, ACK);
  // 500 spoofed SYNs: each takes a slot, the oldest embryonic one makes room for the next.
  for (let i = 0; i < 500; i++) {
    assert(seg(r, 2000 + (i % 1000), SYN, { src: 0xc6120000 + i }) !== null);
  }
  assertEquals(r.balancer.conns.size, 64);
  assertEquals(r.balancer.conns.counters.evicted, 500 - 63);
  assertEquals(r.stack.counters.get("lb.conn_evicted_embryonic"), 500 - 63);
  assertEquals(r.stack.counters.get("lb.drop_table_full") ?? 0, 0);
  // The legitimate client's SYN and ACK: its flow is made, completes, and is kept.
  const real = seg(r, 3000, SYN);
  assert(real !== null && real > 0);
  assertEquals(seg(r, 3000, ACK), real);
  for (let i = 0; i < 500; i++) seg(r, 4000, SYN, { src: 0xc6130000 + i });
  assertEquals(seg(r, 3000, ACK | PSH), real, "its flow survived the rest of the flood");
  assertEquals(seg(r, 1000, ACK), REAL1, "and so did the one from before");
  assertEquals(r.balancer.conns.embryonicCount, 62);
});

Deno.test("mh under pressure: random ACKs are forwarded to the Maglev choice with no entry", () => {
  const r = three("mh", { maxConns: 64 });
  const ref = three("mh", { maxConns: 64 });
  // Below the pressure mark (48 of 64) an unknown ACK makes a short-lived unproven entry.
  for (let i = 0; i < 48; i++) seg(r, 5000 + i, ACK, { src: 0xc6140000 + i });
  assertEquals(r.balancer.conns.size, 48);
  assert(r.balancer.conns.underPressure);
  // From there on: forwarded, no entry, counted; the choice is the one a fresh table makes.
  for (let i = 48; i < 300; i++) {
    const src = 0xc6140000 + i;
    assertEquals(seg(r, 5000 + i, ACK, { src }), seg(ref, 5000 + i, ACK, { src }));
  }
  assertEquals(r.balancer.conns.size, 48);
  assertEquals(r.stack.counters.get("lb.mh_stateless"), 252);
  // A legitimate SYN still makes an entry (and would evict an unproven one if the table filled).
  const real = seg(r, 6000, SYN);
  assert(real !== null && real > 0);
  assertEquals(r.balancer.conns.size, 49);
  assertEquals(seg(r, 6000, ACK), real, "its handshake completes: an established flow");
  // Unproven entries live 5 s: the table drains after the flood.
  r.clock.advance(5_000);
  for (let i = 0; i < 100; i++) r.stack.tick();
  assertEquals(r.balancer.conns.size, 1);
});

Deno.test("no real server available: ICMP port unreachable to the client, one log line per change", () => {
  const events: string[] = [];
  const r = rig({
    onEvent: (event, message) => events.push(`${event}: ${message}`),
    services: [{ scheduler: "rr", method: "dr", reals: [{ address: REAL1, weight: 0 }] }],
  });
  const p = tcpPacket({ src: CLIENT, dst: VIP, sport: 7000, dport: 80, flags: SYN });
  for (let i = 0; i < 3; i++) r.send(frame(LB_MAC, CLIENT_MAC, p));
  const out = r.sent();
  assertEquals(out.length, 3);
  for (const f of out) {
    assertEquals([...f.subarray(0, 6)], [...CLIENT_MAC]);
    // IPv4 from the VIP to the client, ICMP type 3 code 3, quoting the SYN.
    assertEquals([f[14 + 9], r32(f, 14 + 12), r32(f, 14 + 16)], [1, VIP, CLIENT]);
    assertEquals([f[34], f[35]], [3, 3]);
    assertEquals([...f.subarray(42, 42 + p.length)], [...p]);
  }
  assertEquals(r.stack.counters.get("lb.drop_no_real"), 3);
  assertEquals(r.stack.counters.get("lb.no_real_unreachable_sent"), 3);
  assertEquals(events, ["no_real_server: TCP 10.0.0.100:80: no real server available"]);
  // A server comes back: flows are scheduled, and the log says so once.
  r.balancer.services.list()[0].editReal(REAL1, 0, { weight: 1 });
  assertEquals(seg(r, 7001, SYN), REAL1);
  assertEquals(seg(r, 7002, SYN), REAL1);
  assertEquals(events.length, 2);
  assertEquals(events[1], "real_server_available: TCP 10.0.0.100:80: real servers available again");
  // The ICMP rate limit (the stack's token bucket, burst 50) bounds the answers to a flood.
  r.balancer.services.list()[0].editReal(REAL1, 0, { weight: 0 });
  for (let i = 0; i < 200; i++) {
    r.send(
      frame(
        LB_MAC,
        CLIENT_MAC,
        tcpPacket({ src: CLIENT, dst: VIP, sport: 8000 + i, dport: 80, flags: SYN }),
      ),
    );
  }
  assertEquals(r.sent().length, 47, "50 in the burst, 3 of them used above");
  assertEquals(events.length, 3);
});

Deno.test("entries expire from the stack's tick (SYN_RECV 60 s; timeouts configurable)", () => {
  const r = three("rr", { timeouts: { ESTABLISHED: 5_000 } });
  seg(r, 45001, SYN); // SYN_RECV, 60 s
  seg(r, 45002, SYN);
  seg(r, 45002, ACK); // ESTABLISHED, 5 s here
  r.clock.advance(5_001);
  for (let i = 0; i < 300; i++) r.stack.tick();
  assertEquals(r.balancer.conns.size, 1);
  assertEquals(seg(r, 45002, ACK), null, "expired: its packets are unknown again");
  r.clock.advance(55_000);
  for (let i = 0; i < 300; i++) r.stack.tick();
  assertEquals(r.balancer.conns.size, 0);
  assertEquals(r.balancer.conns.counters.expired, 2);
  // Active/inactive counts went back to zero with the entries.
  for (const real of r.balancer.services.list()[0].reals) {
    assertEquals([real.activeConns, real.inactiveConns], [0, 0]);
  }
});

Deno.test("weight 0: no new flows, existing flows continue", () => {
  const r = three("rr");
  assertEquals(seg(r, 46001, SYN), REAL1);
  r.balancer.services.list()[0].editReal(REAL1, 0, { weight: 0 });
  assertEquals([2, 3, 4, 5].map((i) => seg(r, 46000 + i, SYN)), [REAL2, REAL3, REAL2, REAL3]);
  assertEquals(seg(r, 46001, ACK), REAL1);
});

Deno.test("malformed transport headers to a VIP are dropped and counted; forwarding goes on", () => {
  const r = three("rr");
  const shortTcp = ipv4({ src: CLIENT, dst: VIP, protocol: 6 }, pattern(12));
  shortTcp[22] = 0;
  shortTcp[23] = 80; // destination port 80
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, shortTcp)), "consumed");
  const badOff = tcpPacket({ src: CLIENT, dst: VIP, sport: 47000, dport: 80, flags: SYN });
  badOff[32] = 0xf0; // data offset 15 words = 60 bytes > 20 available
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, badOff)), "consumed");
  badOff[32] = 0x30; // data offset 3 words < 5
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, badOff)), "consumed");
  const tiny = ipv4({ src: CLIENT, dst: VIP, protocol: 6 }, pattern(2));
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, tiny)), "consumed");
  assertEquals(r.sent().length, 0);
  const c = r.stack.counters;
  assertEquals(
    [
      c.get("lb.drop_malformed_tcp_truncated"),
      c.get("lb.drop_malformed_tcp_bad_offset"),
      c.get("lb.drop_malformed_l4_truncated"),
    ],
    [1, 2, 1],
  );
  assertEquals(r.balancer.conns.size, 0);
  assertEquals(seg(r, 47001, SYN), REAL1, "still forwarding");
});

Deno.test("UDP: bad length dropped; every datagram of an unknown flow starts one", () => {
  const r = rig({
    services: [{
      protocol: "udp",
      port: 53,
      scheduler: "rr",
      method: "dr",
      reals: [
        { address: REAL1 },
        { address: REAL2 },
      ],
    }],
  });
  const bad = ipv4({ src: CLIENT, dst: VIP, protocol: 17 }, udp(CLIENT, VIP, 6000, 53, pattern(4)));
  bad[24] = 0;
  bad[25] = 200; // length 200 > 12 available
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, bad)), "consumed");
  assertEquals(r.stack.counters.get("lb.drop_malformed_udp_bad_length"), 1);
  const sent: number[] = [];
  for (const port of [6001, 6002, 6001, 6003]) {
    const q = ipv4({ src: CLIENT, dst: VIP, protocol: 17 }, udp(CLIENT, VIP, port, 53, pattern(8)));
    r.send(frame(LB_MAC, CLIENT_MAC, q));
    sent.push(MAC_TO_REAL.get(r.sent()[0].subarray(0, 6).join(","))!);
  }
  assertEquals(sent, [REAL1, REAL2, REAL1, REAL1]);
  assertEquals(r.balancer.connections().entries.map((e) => e.state), ["UDP", "UDP", "UDP"]);
});

Deno.test("the VIP is an owned address: ARP is answered and ping too", () => {
  const r = three("rr");
  const req = arp(1, CLIENT_MAC, CLIENT, new Uint8Array(6), VIP);
  r.stack.input(concat(eth(mac("ff:ff:ff:ff:ff:ff"), CLIENT_MAC, 0x0806), req), 0, 42);
  const reply = r.sent();
  assertEquals(reply.length, 1);
  assertEquals([reply[0][21], r32(reply[0], 28)], [2, VIP]); // ARP reply, sender = VIP
  const ping = ipv4({ src: CLIENT, dst: VIP, protocol: 1 }, icmpEcho(8, 1, 1, pattern(8)));
  assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, ping)), "pass");
  const echo = r.sent();
  assertEquals([echo.length, echo[0][34], r32(echo[0], 26)], [1, 0, VIP]);
});

Deno.test("snapshot and connections describe services, real servers and flows", () => {
  const r = three("rr");
  seg(r, 48001, SYN);
  seg(r, 48001, ACK);
  seg(r, 48002, SYN);
  const snap = r.balancer.snapshot();
  assertEquals(snap.services.length, 1);
  const s = snap.services[0];
  assertEquals([s.protocol, s.vip, s.port, s.scheduler, s.conns, s.packetsIn], [
    "tcp",
    "10.0.0.100",
    80,
    "rr",
    2,
    3,
  ]);
  assertEquals(
    s.reals.map((x) => [x.address, x.port, x.method, x.activeConns, x.inactiveConns]),
    [["10.0.0.11", 80, "dr", 1, 0], ["10.0.0.12", 80, "dr", 0, 1], ["10.0.0.13", 80, "dr", 0, 0]],
  );
  assertEquals(snap.connections, 2);
  const conns = r.balancer.connections();
  assertEquals([conns.truncated, r.balancer.connections(1).entries.length], [false, 1]);
  assertEquals(r.balancer.connections(1).truncated, true);
  assertEquals(conns.entries.map((e) => [e.client, e.real, e.state]).sort(), [
    ["10.0.0.50:48001", "10.0.0.11:80", "ESTABLISHED"],
    ["10.0.0.50:48002", "10.0.0.12:80", "SYN_RECV"],
  ]);
});

Deno.test("detach: the stack is a plain host again", () => {
  const r = three("rr");
  r.stack.hook = r.balancer.hook; // the rig wraps the hook to record verdicts
  r.balancer.detach();
  assertEquals(r.stack.hook, null);
  const b = new Balancer(r.stack);
  b.addService(new VirtualService({ protocol: "tcp", vip: VIP, port: 81, scheduler: "rr" }));
  assert(r.stack.hasAddress(VIP));
});

Deno.test("a forwarded packet reads the stack's clock once (frame_clock.ts); its flow's deadline uses it", () => {
  // A clock that moves 0.5 ms at every read: before the frame clock, a DR packet read it three
  // times (the flow's deadline, its re-arm, the ARP entry's use).
  let reads = 0;
  let t = 50_000.25;
  const clock = {
    now(): number {
      reads++;
      t += 0.5;
      return t;
    },
  };
  const device = createMemoryDevice({ mac: LB_MAC, capture: true });
  const stack = new Stack({ device, address: LB, prefix: 24, clock });
  for (const [a, m] of REAL_MACS) stack.arp.addStatic(a, m);
  const balancer = new Balancer(stack, { seed: 7 });
  const svc = new VirtualService({ protocol: "tcp", vip: VIP, port: 80, scheduler: "rr" });
  svc.addReal({ address: REAL1 });
  balancer.addService(svc);
  balancer.attach();
  const input = (flags: number) => {
    const f = frame(
      LB_MAC,
      CLIENT_MAC,
      tcpPacket({ src: CLIENT, dst: VIP, sport: 41000, dport: 80, flags }),
    );
    const buf = new Uint8Array(f.length + 2);
    buf.set(f, 2);
    const before = reads;
    stack.input(buf, 2, f.length);
    return reads - before;
  };
  assertEquals(input(SYN), 1, "the first SYN: lookup, insert, track, ARP");
  assertEquals(input(ACK), 1, "an established packet: lookup, track, ARP");
  const ackTime = t; // the ACK frame's one reading
  assertEquals(device.takeSent().length, 2);
  const slot = balancer.conns.lookupIn(6, CLIENT, 41000, VIP, 80);
  assert(slot >= 0);
  // SYN_RECV -> ESTABLISHED re-armed the deadline with 15 minutes from that reading.
  assertEquals(balancer.conns.expiresAt(slot), ackTime + 15 * 60_000);
});

Deno.test("configuring a real server asks ARP for it at once (no first-SYN burst waits)", () => {
  const clock = new FakeClock(1_000);
  const device = createMemoryDevice({ mac: LB_MAC, capture: true });
  const stack = new Stack({ device, address: LB, prefix: 24, clock });
  const balancer = new Balancer(stack, { seed: 7 });
  const svc = new VirtualService({ protocol: "tcp", vip: VIP, port: 80, scheduler: "rr" });
  svc.addReal({ address: REAL1 });
  balancer.addService(svc);
  balancer.addReal(svc, { address: REAL2 });
  const asked = stack.arp.entries().filter((e) => e.state === "incomplete").map((e) => e.ip);
  assertEquals(asked.sort(), [REAL1, REAL2].sort());
  // Each request went out as an ARP frame (EtherType 0x0806) for that address.
  const arpTargets = device.sent.filter((f) => f[12] === 0x08 && f[13] === 0x06)
    .map((f) => ((f[38] << 24) | (f[39] << 16) | (f[40] << 8) | f[41]) >>> 0);
  assertEquals(arpTargets.sort(), [REAL1, REAL2].sort());
});
