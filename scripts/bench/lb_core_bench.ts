/**
 * Benchmarks of the balancer's pure core: one scheduler pick per algorithm, connection-table
 * lookups (hit and miss, in a table holding a million flows), a packet's state update, and
 * insert with a steady-state sweep. Each iteration runs a batch of BATCH operations: divide the
 * reported time per iteration by BATCH for the cost of one.
 *
 *   scripts/deno bench -A scripts/bench/lb_core_bench.ts
 *
 * @module
 */

import { FakeClock } from "../../stack/clock.ts";
import { RealServer } from "../../lb/service.ts";
import { createScheduler, SCHEDULER_NAMES } from "../../lb/scheduler/mod.ts";
import { ConnTable, PROTO_TCP } from "../../lb/conntrack/table.ts";
import { Direction, TCP_ACK } from "../../lb/conntrack/tcp_states.ts";

const BATCH = 1000;
const VIP = 0xcb007105;

// ---------------------------------------------------------------- schedulers

const reals = Array.from(
  { length: 8 },
  (_, i) => new RealServer({ address: 0x0a000001 + i, port: 80, weight: 1 + (i % 4) }),
);
reals.forEach((r, i) => {
  r.activeConns = 100 + i * 7;
  r.inactiveConns = 50 + i * 3;
});

let sink = 0;
for (const name of SCHEDULER_NAMES) {
  const s = createScheduler(name);
  s.update(reals);
  Deno.bench(`scheduler ${name} pick, 8 servers (x${BATCH})`, { group: "pick" }, () => {
    let client = 0x0b000001;
    for (let i = 0; i < BATCH; i++) {
      const r = s.pick(client, 1024 + i);
      if (r !== null) sink += r.weight;
      client = (client + 0x9e3779b1) >>> 0;
    }
  });
}

// ---------------------------------------------------------------- conntrack lookups

const FLOWS = 1_000_000;
const clock = new FakeClock(0);
const big = new ConnTable({ capacity: FLOWS, clock, seed: 1 });
const flowIp = (i: number) => (0x0b000000 + (i >>> 6)) >>> 0;
const flowPort = (i: number) => 1024 + (i & 63);
for (let i = 0; i < FLOWS; i++) {
  const s = big.insert(PROTO_TCP, flowIp(i), flowPort(i), VIP, 443, reals[i & 7], 443, "nat");
  big.track(s, Direction.INPUT, TCP_ACK);
}

// The same lookup in a table small enough for the CPU caches: the cost without memory stalls.
const SMALL = 10_000;
const small = new ConnTable({ capacity: SMALL, clock, seed: 3 });
for (let i = 0; i < SMALL; i++) {
  small.insert(PROTO_TCP, flowIp(i), flowPort(i), VIP, 443, reals[i & 7], 443, "nat");
}

Deno.bench(`conntrack lookupIn hit, 10k flows (x${BATCH})`, { group: "lookup" }, () => {
  for (let i = 0, k = (sink * 7919) % SMALL; i < BATCH; i++, k = (k + 7919) % SMALL) {
    sink += small.lookupIn(PROTO_TCP, flowIp(k), flowPort(k), VIP, 443);
  }
});

Deno.bench(`conntrack lookupIn hit, 1M flows (x${BATCH})`, { group: "lookup" }, () => {
  for (let i = 0, k = (sink * 7919) % FLOWS; i < BATCH; i++, k = (k + 7919) % FLOWS) {
    sink += big.lookupIn(PROTO_TCP, flowIp(k), flowPort(k), VIP, 443);
  }
});

Deno.bench(`conntrack lookupIn miss, 1M flows (x${BATCH})`, { group: "lookup" }, () => {
  for (let i = 0, k = (sink * 7919) % FLOWS; i < BATCH; i++, k = (k + 7919) % FLOWS) {
    sink += big.lookupIn(PROTO_TCP, flowIp(k), flowPort(k), VIP, 444);
  }
});

Deno.bench(`conntrack lookupOut hit (NAT reply), 1M flows (x${BATCH})`, { group: "lookup" }, () => {
  for (let i = 0, k = (sink * 7919) % FLOWS; i < BATCH; i++, k = (k + 7919) % FLOWS) {
    sink += big.lookupOut(PROTO_TCP, reals[k & 7].address, 443, flowIp(k), flowPort(k));
  }
});

Deno.bench(`conntrack lookupIn + track (one packet), 1M flows (x${BATCH})`, {
  group: "lookup",
}, () => {
  for (let i = 0, k = (sink * 7919) % FLOWS; i < BATCH; i++, k = (k + 7919) % FLOWS) {
    const s = big.lookupIn(PROTO_TCP, flowIp(k), flowPort(k), VIP, 443);
    sink += big.track(s, Direction.INPUT, TCP_ACK);
  }
});

// ---------------------------------------------------------------- insert + expire

// Steady state: each new flow lives 2 s (NONE) of fake time, time moves 1 ms per insert, and
// each insert pays for a sweep of 2 slots, so the sweep frees slots as fast as inserts take them.
const churnClock = new FakeClock(0);
const churn = new ConnTable({ capacity: 65536, clock: churnClock, seed: 2 });
let next = 0;

/** Inserts flow number `n` (a TCP client of the VIP's port 80, real server n mod 8, DR). */
function insertFlow(table: ConnTable, n: number): number {
  return table.insert(PROTO_TCP, flowIp(n), flowPort(n), VIP, 80, reals[n & 7], 80, "dr");
}

Deno.bench(`conntrack insert + expire(2 slots), steady state (x${BATCH})`, {
  group: "churn",
}, () => {
  for (let i = 0; i < BATCH; i++, next++) {
    if (insertFlow(churn, next) < 0) throw new Error("table full: the sweep fell behind");
    churnClock.advance(1);
    churn.expire(churnClock.now(), 2);
  }
});

globalThis.addEventListener("unload", () => {
  if (sink === 0.5) console.log(sink); // keeps `sink` alive so the loops are not optimised away
});

// A SYN flood against a full table: every insert evicts the oldest embryonic entry (O(1)) and
// the new flow takes its SYN (the state tracking that keeps it on the embryonic list).
const floodClock = new FakeClock(0);
const flooded = new ConnTable({ capacity: 65536, clock: floodClock, seed: 3 });
let spoofed = 0;

Deno.bench(`conntrack insert into a full table, evicting (SYN flood) (x${BATCH})`, {
  group: "churn",
}, () => {
  for (let i = 0; i < BATCH; i++, spoofed++) {
    const s = insertFlow(flooded, spoofed);
    if (s < 0) throw new Error("a full table of embryonic flows refused a new one");
    flooded.track(s, 0, 0x02);
  }
});
