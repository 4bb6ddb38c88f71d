import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { RealServer } from "../../../lb/service.ts";
import { ConnTable, PROTO_TCP, PROTO_UDP } from "../../../lb/conntrack/table.ts";
import { formatExpire } from "../../../lb/conntrack/conn_info.ts";
import {
  type ConnStateName,
  Direction,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
} from "../../../lb/conntrack/tcp_states.ts";

const IN = Direction.INPUT;
const OUT = Direction.OUTPUT;
const CLIENT = 0xc6336401; // 198.51.100.1
const VIP = 0xcb007105; // 203.0.113.5
const RIP = 0x0a000002; // 10.0.0.2

function setup(capacity = 64, extra: { countHandshakeAsActive?: boolean } = {}) {
  const clock = new FakeClock(1_000_000);
  const table = new ConnTable({ capacity, clock, seed: 42, ...extra });
  const real = new RealServer({ address: RIP, port: 8080 });
  return { clock, table, real };
}

function counts(r: RealServer): [number, number] {
  return [r.activeConns, r.inactiveConns];
}

Deno.test("conntrack: insert, then find by the client and by the server side", () => {
  const { table, real } = setup();
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40000, VIP, 80), -1);
  const s = table.insert(PROTO_TCP, CLIENT, 40000, VIP, 80, real, 8080, "nat");
  assert(s >= 0);
  assertEquals(table.size, 1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40000, VIP, 80), s);
  assertEquals(table.lookupOut(PROTO_TCP, RIP, 8080, CLIENT, 40000), s);
  assertEquals(
    [table.protocol(s), table.clientIp(s), table.clientPort(s), table.vip(s), table.vport(s)],
    [PROTO_TCP, CLIENT, 40000, VIP, 80],
  );
  assertEquals([table.realIp(s), table.realPort(s), table.method(s)], [RIP, 8080, "nat"]);
  assertEquals(table.real(s), real);
  assertEquals(table.stateName(s), "NONE");
  // Any field different is another flow.
  assertEquals(table.lookupIn(PROTO_UDP, CLIENT, 40000, VIP, 80), -1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT + 1, 40000, VIP, 80), -1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40001, VIP, 80), -1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40000, VIP + 1, 80), -1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40000, VIP, 81), -1);
  assertEquals(table.lookupOut(PROTO_TCP, RIP, 8081, CLIENT, 40000), -1);
  assertEquals(table.lookupOut(PROTO_TCP, RIP, 8080, CLIENT, 40001), -1);
});

Deno.test("conntrack: NAT lifecycle through the INPUT and OUTPUT tables, with counters", () => {
  const { clock, table, real } = setup();
  const s = table.insert(PROTO_TCP, CLIENT, 40000, VIP, 80, real, 8080, "nat");
  assertEquals(counts(real), [0, 1]); // a new flow starts inactive (IPVS)
  const steps: [number, number, ConnStateName, [number, number]][] = [
    [IN, TCP_SYN, "SYN_RECV", [0, 1]],
    [OUT, TCP_SYN | TCP_ACK, "SYN_RECV", [0, 1]],
    [IN, TCP_ACK, "ESTABLISHED", [1, 0]],
    [OUT, TCP_ACK, "ESTABLISHED", [1, 0]],
    [IN, TCP_FIN | TCP_ACK, "CLOSE_WAIT", [0, 1]],
    [OUT, TCP_ACK, "CLOSE_WAIT", [0, 1]],
    [OUT, TCP_FIN | TCP_ACK, "TIME_WAIT", [0, 1]],
    [IN, TCP_ACK, "TIME_WAIT", [0, 1]],
  ];
  for (const [dir, flags, want, c] of steps) {
    clock.advance(5);
    table.track(s, dir, flags);
    assertEquals(table.stateName(s), want);
    assertEquals(counts(real), c, `after ${want}`);
    assertEquals(table.expiresAt(s), clock.now() + table.timeout(want));
  }
  clock.advance(table.timeout("TIME_WAIT"));
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40000, VIP, 80), -1);
  assertEquals(counts(real), [0, 0]);
  assertEquals(table.size, 0);
  assertEquals(table.counters.expired, 1);
});

Deno.test("conntrack: DR lifecycle uses the INPUT-ONLY table", () => {
  const { clock, table, real } = setup();
  const s = table.insert(PROTO_TCP, CLIENT, 40001, VIP, 80, real, 80, "dr");
  const steps: [number, ConnStateName, [number, number]][] = [
    [TCP_SYN, "SYN_RECV", [0, 1]],
    [TCP_ACK, "ESTABLISHED", [1, 0]],
    [TCP_ACK, "ESTABLISHED", [1, 0]],
    [TCP_FIN | TCP_ACK, "FIN_WAIT", [0, 1]], // NAT's INPUT table would say CLOSE_WAIT
    [TCP_ACK, "FIN_WAIT", [0, 1]],
  ];
  for (const [flags, want, c] of steps) {
    clock.advance(1);
    table.track(s, IN, flags);
    assertEquals(table.stateName(s), want);
    assertEquals(counts(real), c, `after ${want}`);
  }
  clock.advance(table.timeout("FIN_WAIT") - 1);
  assert(table.lookupIn(PROTO_TCP, CLIENT, 40001, VIP, 80) === s);
  clock.advance(1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 40001, VIP, 80), -1);
  assertEquals(counts(real), [0, 0]);
});

Deno.test("conntrack: a DR flow that shows an output packet switches to the normal tables", () => {
  const { table, real } = setup();
  const s = table.insert(PROTO_TCP, CLIENT, 40002, VIP, 80, real, 80, "tun");
  table.track(s, IN, TCP_SYN);
  table.track(s, IN, TCP_ACK);
  table.track(s, OUT, TCP_ACK); // clears NOOUTPUT
  table.track(s, IN, TCP_FIN);
  assertEquals(table.stateName(s), "CLOSE_WAIT");
});

Deno.test("conntrack: RST closes; a packet with no flags closes too", () => {
  const { table, real } = setup();
  const a = table.insert(PROTO_TCP, CLIENT, 1, VIP, 80, real, 80, "dr");
  table.track(a, IN, TCP_SYN);
  table.track(a, IN, TCP_ACK);
  table.track(a, IN, TCP_RST);
  assertEquals([table.stateName(a), table.expiresAt(a) - 1_000_000], ["CLOSE", 10_000]);
  const b = table.insert(PROTO_TCP, CLIENT, 2, VIP, 80, real, 80, "nat");
  table.track(b, IN, TCP_ACK);
  assertEquals(table.stateName(b), "ESTABLISHED");
  table.track(b, IN, 0);
  assertEquals(table.stateName(b), "CLOSE");
  assertEquals(counts(real), [0, 2]);
});

Deno.test("conntrack: countHandshakeAsActive counts SYN_RECV as active", () => {
  const { table, real } = setup(8, { countHandshakeAsActive: true });
  const s = table.insert(PROTO_TCP, CLIENT, 3, VIP, 80, real, 80, "dr");
  assertEquals(counts(real), [0, 1]);
  table.track(s, IN, TCP_SYN);
  assertEquals(counts(real), [1, 0]);
  table.track(s, IN, TCP_ACK);
  assertEquals(counts(real), [1, 0]);
  table.track(s, IN, TCP_FIN);
  assertEquals(counts(real), [0, 1]);
});

Deno.test("conntrack: each state's timeout, and lookups miss from the deadline on", () => {
  const reach: [ConnStateName, [number, number][]][] = [
    ["NONE", []],
    ["SYN_RECV", [[IN, TCP_SYN]]],
    ["ESTABLISHED", [[IN, TCP_SYN], [IN, TCP_ACK]]],
    ["CLOSE_WAIT", [[IN, TCP_SYN], [IN, TCP_ACK], [IN, TCP_FIN]]],
    ["FIN_WAIT", [[IN, TCP_SYN], [IN, TCP_ACK], [OUT, TCP_FIN]]],
    ["TIME_WAIT", [[IN, TCP_SYN], [IN, TCP_ACK], [OUT, TCP_FIN], [IN, TCP_FIN]]],
    ["CLOSE", [[IN, TCP_SYN], [IN, TCP_ACK], [IN, TCP_RST]]],
    ["SYN_SENT", [[IN, TCP_SYN], [IN, TCP_ACK], [IN, TCP_RST], [OUT, TCP_SYN]]],
    ["LISTEN", []], // not reachable by packets; its timeout is still configurable
  ];
  const want: Record<string, number> = {
    NONE: 2_000,
    SYN_RECV: 60_000,
    ESTABLISHED: 900_000,
    CLOSE_WAIT: 60_000,
    FIN_WAIT: 120_000,
    TIME_WAIT: 120_000,
    CLOSE: 10_000,
    SYN_SENT: 120_000,
    LISTEN: 120_000,
  };
  for (const [state, packets] of reach) {
    const { clock, table, real } = setup();
    assertEquals(table.timeout(state), want[state]);
    if (state === "LISTEN") continue;
    const s = table.insert(PROTO_TCP, CLIENT, 5, VIP, 80, real, 80, "nat");
    for (const [dir, flags] of packets) table.track(s, dir, flags);
    assertEquals(table.stateName(s), state);
    clock.advance(want[state] - 1);
    assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 5, VIP, 80), s, state);
    clock.advance(1);
    assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 5, VIP, 80), -1, state);
  }
});

Deno.test("conntrack: timeouts are configurable", () => {
  const clock = new FakeClock();
  const table = new ConnTable({ capacity: 4, clock, timeouts: { ESTABLISHED: 5_000 } });
  assertEquals(table.timeout("ESTABLISHED"), 5_000);
  assertEquals(table.timeout("CLOSE"), 10_000);
  table.setTimeout("UDP", 1_000);
  assertEquals(table.timeout("UDP"), 1_000);
  assertThrows(() => table.setTimeout("NOPE" as ConnStateName, 1), RangeError);
  assertThrows(() => table.setTimeout("CLOSE", -1), RangeError);
  const real = new RealServer({ address: RIP });
  const s = table.insert(PROTO_TCP, CLIENT, 9, VIP, 80, real, 80, "nat");
  table.track(s, IN, TCP_ACK);
  clock.advance(5_000);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 9, VIP, 80), -1);
});

Deno.test("conntrack: UDP flows have one state, 300 s, refreshed by traffic", () => {
  const { clock, table, real } = setup();
  const s = table.insert(PROTO_UDP, CLIENT, 5353, VIP, 53, real, 53, "nat");
  assertEquals(table.stateName(s), "UDP");
  assertEquals(counts(real), [0, 1]);
  for (let i = 0; i < 3; i++) {
    clock.advance(299_000);
    assertEquals(table.lookupIn(PROTO_UDP, CLIENT, 5353, VIP, 53), s);
    assertEquals(table.track(s, IN, TCP_SYN /* ignored for UDP */), table.state(s));
    assertEquals(table.stateName(s), "UDP");
  }
  clock.advance(300_000);
  assertEquals(table.lookupOut(PROTO_UDP, RIP, 53, CLIENT, 5353), -1);
  assertEquals(counts(real), [0, 0]);
});

Deno.test("conntrack: expired entries keep their slot until a lookup or the sweep frees them", () => {
  const clock = new FakeClock();
  const table = new ConnTable({ capacity: 8, clock, sweepBudget: 3 });
  const real = new RealServer({ address: RIP });
  for (let i = 0; i < 8; i++) table.insert(PROTO_TCP, CLIENT, 100 + i, VIP, 80, real, 80, "dr");
  // Full of embryonic entries: the oldest makes room.
  assert(table.insert(PROTO_TCP, CLIENT, 999, VIP, 80, real, 80, "dr") >= 0);
  assertEquals([table.size, table.counters.evicted], [8, 1]);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 100, VIP, 80), -1);
  clock.advance(2_000); // NONE's 2 s are over for all eight
  assertEquals([...table.entries()].length, 0); // listings skip them
  assertEquals(table.size, 8);
  assertEquals(table.expire(), 3);
  assertEquals(table.expire(), 3);
  assertEquals(table.size, 2);
  assertEquals(counts(real), [0, 2]);
  assertEquals(table.expire(clock.now(), 100), 2);
  assertEquals([table.size, table.counters.expired], [0, 8]);
  assertEquals(counts(real), [0, 0]);
});

Deno.test("conntrack: the sweep leaves live entries alone", () => {
  const { clock, table, real } = setup(16);
  const live = table.insert(PROTO_TCP, CLIENT, 1, VIP, 80, real, 80, "dr");
  table.track(live, IN, TCP_ACK);
  table.insert(PROTO_TCP, CLIENT, 2, VIP, 80, real, 80, "dr");
  clock.advance(3_000);
  assertEquals(table.expire(clock.now(), 16), 1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 1, VIP, 80), live);
});

/** Inserts a flow and tracks the client's SYN and ACK: an established (proven) flow. */
function established(table: ConnTable, real: RealServer, port: number): number {
  const s = table.insert(PROTO_TCP, CLIENT, port, VIP, 80, real, 80, "nat");
  table.track(s, IN, TCP_SYN);
  table.track(s, IN, TCP_ACK);
  return s;
}

Deno.test("conntrack: bounded: full of established flows refuses and counts, flows untouched", () => {
  const { table, real } = setup(4);
  const slots = [0, 1, 2, 3].map((i) => established(table, real, 2000 + i));
  assert(slots.every((s) => s >= 0));
  assertEquals(table.embryonicCount, 0);
  assertEquals(table.insert(PROTO_TCP, CLIENT, 3000, VIP, 80, real, 80, "nat"), -1);
  assertEquals(table.insert(PROTO_UDP, CLIENT, 3001, VIP, 80, real, 80, "nat"), -1);
  assertEquals(table.counters.refused, 2);
  assertEquals(table.size, 4);
  slots.forEach((s, i) => assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 2000 + i, VIP, 80), s));
  assertEquals(counts(real), [4, 0]);
  table.remove(slots[1]);
  assert(table.insert(PROTO_TCP, CLIENT, 3000, VIP, 80, real, 80, "nat") >= 0);
});

Deno.test("conntrack: a full table evicts the oldest embryonic flow, never an established one", () => {
  const { table, real } = setup(4);
  const est = established(table, real, 1);
  const synRecv = table.insert(PROTO_TCP, CLIENT, 2, VIP, 80, real, 80, "dr");
  table.track(synRecv, IN, TCP_SYN);
  const udp = table.insert(PROTO_UDP, CLIENT, 3, VIP, 53, real, 53, "dr");
  table.track(udp, IN, 0);
  const est2 = established(table, real, 4);
  assertEquals([table.size, table.embryonicCount], [4, 2]);
  // The oldest embryonic one goes first (SYN_RECV), then the one-packet UDP flow, then the new
  // embryonic flows themselves, oldest first; the two established flows stay throughout.
  for (let i = 0; i < 6; i++) {
    const s = table.insert(PROTO_TCP, CLIENT, 100 + i, VIP, 80, real, 80, "dr");
    table.track(s, IN, TCP_SYN);
    assert(s >= 0);
    assertEquals(table.size, 4);
  }
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 2, VIP, 80), -1);
  assertEquals(table.lookupIn(PROTO_UDP, CLIENT, 3, VIP, 53), -1);
  for (let i = 0; i < 4; i++) assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 100 + i, VIP, 80), -1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 104, VIP, 80) >= 0, true);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 1, VIP, 80), est);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 4, VIP, 80), est2);
  assertEquals([table.counters.evicted, table.counters.refused], [6, 0]);
  // A second packet proves the UDP flow; a completed handshake takes a flow off the list.
  const u = table.insert(PROTO_UDP, CLIENT, 7, VIP, 53, real, 53, "dr");
  table.track(u, IN, 0);
  assertEquals(table.embryonicCount, 2);
  table.track(u, IN, 0);
  assertEquals(table.embryonicCount, 1);
  table.track(table.lookupIn(PROTO_TCP, CLIENT, 105, VIP, 80), IN, TCP_ACK);
  assertEquals(table.embryonicCount, 0);
  assertEquals(table.insert(PROTO_TCP, CLIENT, 200, VIP, 80, real, 80, "dr"), -1);
  assertEquals(table.counters.refused, 1);
});

Deno.test("conntrack: a flow made without a SYN lives the short timeout until proven", () => {
  const { clock, table, real } = setup(64);
  assertEquals(table.embryonicTimeoutMs, 5_000);
  const s = table.insert(PROTO_TCP, CLIENT, 9, VIP, 80, real, 80, "dr");
  table.track(s, IN, TCP_ACK); // a mid-stream ACK of an unknown flow (mh resuming it)
  assertEquals(table.stateName(s), "ESTABLISHED");
  assertEquals(table.expiresAt(s), clock.now() + 5_000);
  assertEquals(table.embryonicCount, 1);
  clock.advance(4_000);
  table.track(s, IN, TCP_ACK); // the second packet: proven, the state's own 15 minutes
  assertEquals(table.expiresAt(s), clock.now() + 900_000);
  assertEquals(table.embryonicCount, 0);
  // Unproven and never seen again: gone after the short timeout.
  const t = table.insert(PROTO_TCP, CLIENT, 10, VIP, 80, real, 80, "dr");
  table.track(t, IN, TCP_ACK);
  clock.advance(5_000);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 10, VIP, 80), -1);
  // A SYN-made flow keeps SYN_RECV's 60 s while the table is not under pressure.
  const u = table.insert(PROTO_TCP, CLIENT, 11, VIP, 80, real, 80, "dr");
  table.track(u, IN, TCP_SYN);
  assertEquals(table.expiresAt(u), clock.now() + 60_000);
  assertEquals(table.counters.shortened, 0);
});

Deno.test("conntrack: under pressure embryonic deadlines are cut to the short timeout", () => {
  const clock = new FakeClock(0);
  const table = new ConnTable({ capacity: 8, clock, embryonicTimeoutMs: 3_000 });
  const real = new RealServer({ address: RIP });
  const est = established(table, real, 1);
  for (let i = 0; i < 4; i++) {
    const s = table.insert(PROTO_TCP, CLIENT, 10 + i, VIP, 80, real, 80, "dr");
    table.track(s, IN, TCP_SYN);
    assertEquals(table.expiresAt(s), 60_000, "below 6 of 8: SYN_RECV's own timeout");
  }
  assert(!table.underPressure);
  const s = table.insert(PROTO_TCP, CLIENT, 20, VIP, 80, real, 80, "dr");
  assert(table.underPressure); // 6 of 8 = 0.75
  table.track(s, IN, TCP_SYN);
  assertEquals(table.expiresAt(s), 3_000);
  assertEquals(table.counters.shortened, 1);
  // Established flows keep their time under pressure; a retransmitted SYN of an older embryonic
  // flow gets the short deadline now.
  table.track(est, IN, TCP_ACK);
  assertEquals(table.expiresAt(est), 900_000);
  const old = table.lookupIn(PROTO_TCP, CLIENT, 10, VIP, 80);
  table.track(old, IN, TCP_SYN);
  assertEquals(table.expiresAt(old), 3_000);
  // The flood stops: the short deadlines pass and the sweep drains the embryonic flows.
  clock.advance(3_000);
  table.expire(clock.now(), 8);
  assertEquals(table.size, 4, "the established flow and three SYN_RECV entries with 60 s left");
  clock.advance(57_000);
  table.expire(clock.now(), 8);
  assertEquals([table.size, table.embryonicCount], [1, 0]);
});

Deno.test("conntrack: inserting an existing key replaces the old flow", () => {
  const { table } = setup();
  const r1 = new RealServer({ address: RIP });
  const r2 = new RealServer({ address: RIP + 1 });
  const a = table.insert(PROTO_TCP, CLIENT, 7, VIP, 80, r1, 80, "nat");
  table.track(a, IN, TCP_ACK);
  const b = table.insert(PROTO_TCP, CLIENT, 7, VIP, 80, r2, 80, "nat");
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT, 7, VIP, 80), b);
  assertEquals(table.real(b), r2);
  assertEquals([table.size, table.counters.replaced], [1, 1]);
  assertEquals([counts(r1), counts(r2)], [[0, 0], [0, 1]]);
  assertEquals(table.lookupOut(PROTO_TCP, RIP, 80, CLIENT, 7), -1);
  assertEquals(table.lookupOut(PROTO_TCP, RIP + 1, 80, CLIENT, 7), b);
});

Deno.test("conntrack: removeByReal drops that server's flows only", () => {
  const { table } = setup(64);
  const r1 = new RealServer({ address: RIP });
  const r2 = new RealServer({ address: RIP + 1 });
  for (let i = 0; i < 20; i++) {
    const s = table.insert(PROTO_TCP, CLIENT, i, VIP, 80, i % 2 ? r1 : r2, 80, "nat");
    if (i % 4 < 2) table.track(s, IN, TCP_ACK);
  }
  assertEquals([counts(r1), counts(r2)], [[5, 5], [5, 5]]);
  assertEquals(table.removeByReal(r1), 10);
  assertEquals(table.removeByReal(r1), 0);
  assertEquals([counts(r1), counts(r2), table.size], [[0, 0], [5, 5], 10]);
  for (let i = 0; i < 20; i++) {
    assertEquals(table.lookupIn(PROTO_TCP, CLIENT, i, VIP, 80) >= 0, i % 2 === 0);
    assertEquals(table.lookupOut(PROTO_TCP, RIP, 80, CLIENT, i), -1);
  }
});

Deno.test("conntrack: many colliding chains stay consistent through removals", () => {
  // 256 flows in a 256-slot table: chains share buckets; remove every third, check the rest.
  const { table, real } = setup(256);
  const slots = new Map<number, number>();
  for (let i = 0; i < 256; i++) {
    slots.set(i, table.insert(PROTO_TCP, CLIENT + (i & 7), 1000 + i, VIP, 80, real, 80, "nat"));
  }
  for (let i = 0; i < 256; i += 3) table.remove(slots.get(i)!);
  for (let i = 0; i < 256; i++) {
    const want = i % 3 === 0 ? -1 : slots.get(i)!;
    assertEquals(table.lookupIn(PROTO_TCP, CLIENT + (i & 7), 1000 + i, VIP, 80), want);
    assertEquals(table.lookupOut(PROTO_TCP, RIP, 80, CLIENT + (i & 7), 1000 + i), want);
  }
});

Deno.test("conntrack: entries() lists flows like ipvsadm -L -n -c", () => {
  const { clock, table, real } = setup();
  const s = table.insert(PROTO_TCP, CLIENT, 40000, VIP, 80, real, 8080, "nat");
  table.track(s, IN, TCP_SYN);
  table.track(s, IN, TCP_ACK);
  clock.advance(30_500);
  const list = [...table.entries()];
  assertEquals(list.length, 1);
  const e = list[0];
  assertEquals(
    [e.protocol, e.state, e.clientIp, e.clientPort, e.vip, e.vport, e.realIp, e.realPort],
    ["tcp", "ESTABLISHED", CLIENT, 40000, VIP, 80, RIP, 8080],
  );
  assertEquals([e.method, e.real, e.expiresInMs], ["nat", real, 869_500]);
  assertEquals(formatExpire(e.expiresInMs), "14:29");
  assertEquals(formatExpire(900_000), "15:00");
  assertEquals(formatExpire(119_999), "01:59");
  assertEquals(formatExpire(-5), "00:00");
});

Deno.test("conntrack: clear() empties the table and the counts", () => {
  const { table, real } = setup(8);
  for (let i = 0; i < 8; i++) {
    table.track(table.insert(PROTO_TCP, CLIENT, i, VIP, 80, real, 80, "nat"), IN, TCP_ACK);
  }
  assertEquals(counts(real), [8, 0]);
  table.clear();
  assertEquals([table.size, counts(real)], [0, [0, 0]]);
  for (let i = 0; i < 8; i++) {
    assert(table.insert(PROTO_TCP, CLIENT, i, VIP, 80, real, 80, "nat") >= 0);
  }
});

Deno.test("conntrack: capacity must be a positive integer", () => {
  assertThrows(() => new ConnTable({ capacity: 0 }), RangeError);
  assertThrows(() => new ConnTable({ capacity: 1.5 }), RangeError);
});

Deno.test("conntrack: a million flows fit in well under 256 MiB", () => {
  const clock = new FakeClock();
  const table = new ConnTable({ capacity: 1_000_000, clock, seed: 7 });
  const reals = [0, 1, 2, 3].map((i) => new RealServer({ address: RIP + i }));
  for (let i = 0; i < 1_000_000; i++) {
    const s = table.insert(
      PROTO_TCP,
      0x0b000000 + (i >>> 6),
      1024 + (i & 63),
      VIP,
      443,
      reals[i & 3],
      443,
      "nat",
    );
    if (s < 0) throw new Error(`insert ${i} refused`);
  }
  assertEquals([table.size, table.counters.refused], [1_000_000, 0]);
  for (let i = 0; i < 1_000_000; i += 997) {
    assert(table.lookupIn(PROTO_TCP, 0x0b000000 + (i >>> 6), 1024 + (i & 63), VIP, 443) >= 0);
  }
  assertEquals(reals.map((r) => r.inactiveConns), [250_000, 250_000, 250_000, 250_000]);
  assert(table.bytesPerFlow < 64, `${table.bytesPerFlow} bytes per flow`);
  assert(table.memoryBytes < 64 * 1024 * 1024, `${table.memoryBytes} bytes`);
});

Deno.test("conntrack: setCapacity grows live, keeping every flow and its slot", () => {
  const { table, real } = setup(4);
  const slots = [0, 1, 2, 3].map((i) => {
    const s = table.insert(PROTO_TCP, CLIENT + i, 40000, VIP, 80, real, 8080, "nat");
    table.track(s, IN, TCP_SYN);
    table.track(s, OUT, TCP_SYN | TCP_ACK);
    table.track(s, IN, TCP_ACK);
    return s;
  });
  assertEquals(table.insert(PROTO_TCP, CLIENT + 9, 40000, VIP, 80, real, 8080, "nat"), -1);
  assertEquals(table.counters.refused, 1);
  table.setCapacity(1000);
  assertEquals(table.capacity, 1000);
  for (let i = 0; i < 4; i++) {
    assertEquals(table.lookupIn(PROTO_TCP, CLIENT + i, 40000, VIP, 80), slots[i]);
    assertEquals(table.lookupOut(PROTO_TCP, RIP, 8080, CLIENT + i, 40000), slots[i]);
    assertEquals(table.stateName(slots[i]), "ESTABLISHED");
  }
  assertEquals(counts(real), [4, 0]);
  // Room for 996 more, all found again, and none beyond the new bound.
  for (let i = 4; i < 1000; i++) {
    assert(table.insert(PROTO_UDP, CLIENT + i, 5000, VIP, 53, real, 53, "dr") >= 0, `flow ${i}`);
  }
  assertEquals(table.size, 1000);
  for (let i = 4; i < 1000; i++) assert(table.lookupIn(PROTO_UDP, CLIENT + i, 5000, VIP, 53) >= 0);
  // Every new UDP flow is embryonic (one packet at most): a full table evicts the oldest.
  assert(table.insert(PROTO_UDP, CLIENT + 5000, 5000, VIP, 53, real, 53, "dr") >= 0);
  assertEquals(table.counters.evicted, 1);
  assertEquals(table.lookupIn(PROTO_UDP, CLIENT + 4, 5000, VIP, 53), -1);
  assertThrows(() => table.setCapacity(0), RangeError);
  assertThrows(() => table.setCapacity((1 << 26) + 1), RangeError);
});

Deno.test("conntrack: setCapacity below the size keeps the flows and refuses new ones", () => {
  const { clock, table, real } = setup(16);
  const est = [0, 1, 2].map((i) => {
    const s = table.insert(PROTO_TCP, CLIENT + i, 40000, VIP, 80, real, 8080, "dr");
    table.track(s, IN, TCP_SYN);
    table.track(s, IN, TCP_ACK);
    return s;
  });
  assertEquals(est.map((s) => table.stateName(s)), ["ESTABLISHED", "ESTABLISHED", "ESTABLISHED"]);
  table.setCapacity(2);
  assertEquals([table.capacity, table.size], [2, 3]);
  // The established flows stay and still track packets.
  for (let i = 0; i < 3; i++) {
    const s = table.lookupIn(PROTO_TCP, CLIENT + i, 40000, VIP, 80);
    assertEquals(s, est[i]);
    table.track(s, IN, TCP_ACK);
  }
  // No embryonic entry to evict: a new flow is refused, however many free slots there are.
  assertEquals(table.insert(PROTO_TCP, CLIENT + 7, 40000, VIP, 80, real, 8080, "dr"), -1);
  assertEquals(table.counters.refused, 1);
  // One flow ends: still at the bound (2 of 2), still refused.
  table.remove(est[0]);
  assertEquals(table.insert(PROTO_TCP, CLIENT + 7, 40000, VIP, 80, real, 8080, "dr"), -1);
  assertEquals(table.counters.refused, 2);
  // Another expires: below the bound, the waiting client's next SYN gets a slot.
  table.track(est[1], IN, TCP_FIN);
  clock.advance(table.timeout("FIN_WAIT") + 1);
  table.expire();
  assertEquals(table.size, 1);
  const s7 = table.insert(PROTO_TCP, CLIENT + 7, 40000, VIP, 80, real, 8080, "dr");
  assert(s7 >= 0);
  // At the bound again: a new flow evicts the one embryonic entry (as in a full table), and
  // once that flow is established, the next is refused.
  const s8 = table.insert(PROTO_TCP, CLIENT + 8, 40000, VIP, 80, real, 8080, "dr");
  assert(s8 >= 0);
  assertEquals(table.counters.evicted, 1);
  assertEquals(table.lookupIn(PROTO_TCP, CLIENT + 7, 40000, VIP, 80), -1);
  table.track(s8, IN, TCP_SYN);
  table.track(s8, IN, TCP_ACK);
  assertEquals(table.insert(PROTO_TCP, CLIENT + 9, 40000, VIP, 80, real, 8080, "dr"), -1);
  assertEquals(table.counters.refused, 3);
});
