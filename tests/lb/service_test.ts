import { assert, assertEquals, assertThrows } from "../assert.ts";
import { type Protocol, RealServer, ServiceTable, VirtualService } from "../../lb/service.ts";
import type { Scheduler, SchedulerName } from "../../lb/scheduler/scheduler.ts";
import { MaglevScheduler } from "../../lb/scheduler/mh.ts";

/** A scheduler that records what it was told. */
class RecordingScheduler implements Scheduler {
  readonly name: SchedulerName = "rr";
  updates: string[][] = [];
  update(reals: readonly RealServer[]): void {
    this.updates.push(reals.map((r) => `${r.address}:${r.port}/${r.weight}/${r.available}`));
  }
  pick(): RealServer | null {
    return null;
  }
}

Deno.test("RealServer: defaults and validation", () => {
  const r = new RealServer({ address: 0x0a000001 });
  assertEquals([r.port, r.weight, r.method, r.available], [0, 1, "dr", true]);
  assertEquals([r.activeConns, r.inactiveConns, r.conns, r.packetsIn, r.bytesOut], [0, 0, 0, 0, 0]);
  assert(r.takesNewFlows());
  r.weight = 0;
  assert(!r.takesNewFlows());
  assertThrows(() => new RealServer({ address: -1 }), RangeError);
  assertThrows(() => new RealServer({ address: 2 ** 32 }), RangeError);
  assertThrows(() => new RealServer({ address: 1, port: 65536 }), RangeError);
  assertThrows(() => new RealServer({ address: 1, weight: 65536 }), RangeError);
  assertThrows(() => new RealServer({ address: 1, weight: 1.5 }), RangeError);
});

Deno.test("VirtualService: add, edit, remove real servers, telling the scheduler each time", () => {
  const sched = new RecordingScheduler();
  const svc = new VirtualService({
    protocol: "tcp",
    vip: 0xc0a80001,
    port: 80,
    scheduler: sched,
    method: "nat",
  });
  assertEquals(sched.updates, [[]]);
  const a = svc.addReal({ address: 10, weight: 2 });
  const b = svc.addReal({ address: 11, port: 8080, method: "tun" });
  assertEquals([a.method, b.method], ["nat", "tun"]); // the service's default fills in
  assertThrows(() => svc.addReal({ address: 10 }), Error); // same address and port
  svc.addReal({ address: 10, port: 81 }); // another port is another server
  svc.editReal(11, 8080, { weight: 0 });
  svc.editReal(10, 0, { available: false });
  assertThrows(() => svc.editReal(12, 0, { weight: 1 }), Error);
  assertThrows(() => svc.editReal(10, 0, { weight: -1 }), RangeError);
  assertEquals(svc.removeReal(10, 81)?.port, 81);
  assertEquals(svc.removeReal(10, 81), null);
  assertEquals(sched.updates, [
    [],
    ["10:0/2/true"],
    ["10:0/2/true", "11:8080/1/true"],
    ["10:0/2/true", "11:8080/1/true", "10:81/1/true"],
    ["10:0/2/true", "11:8080/0/true", "10:81/1/true"],
    ["10:0/2/false", "11:8080/0/true", "10:81/1/true"],
    ["10:0/2/false", "11:8080/0/true"],
  ]);
  assertEquals(svc.findReal(11, 8080), b);
  assertEquals(svc.findReal(11), null);
  assertEquals([svc.realPort(a), svc.realPort(b)], [80, 8080]);
});

Deno.test("VirtualService: scheduler by name (wlc by default) and validation", () => {
  const svc = new VirtualService({ protocol: "udp", vip: 1, port: 53 });
  assertEquals([svc.scheduler.name, svc.method], ["wlc", "dr"]);
  const mh = new VirtualService({
    protocol: "tcp",
    vip: 1,
    port: 80,
    scheduler: "mh",
    schedulerOptions: { port: false },
  });
  assertEquals((mh.scheduler as MaglevScheduler).usePort, false);
  const r = mh.addReal({ address: 5 });
  assertEquals(mh.scheduler.pick(1, 2), r);
  assertThrows(() => new VirtualService({ protocol: "tcp", vip: 1, port: 0 }), RangeError);
  assertThrows(
    () => new VirtualService({ protocol: "tcp", vip: 1, port: 80, scheduler: "xx" as "rr" }),
    Error,
  );
});

Deno.test("VirtualService: setScheduler feeds the new one; zeroStats keeps live counts", () => {
  const svc = new VirtualService({ protocol: "tcp", vip: 1, port: 80, scheduler: "rr" });
  const a = svc.addReal({ address: 7 });
  const sched = new RecordingScheduler();
  svc.setScheduler(sched);
  assertEquals(sched.updates, [["7:0/1/true"]]);
  a.conns = 3;
  a.bytesIn = 100;
  a.activeConns = 2;
  svc.packetsIn = 9;
  svc.zeroStats();
  assertEquals([a.conns, a.bytesIn, a.activeConns, svc.packetsIn], [0, 0, 2, 0]);
});

Deno.test("ServiceTable: lookup by (protocol, vip, port)", () => {
  const table = new ServiceTable();
  const high = 0xc0a80101; // above 2^31: keys must not depend on small integers
  const tcp = table.add(new VirtualService({ protocol: "tcp", vip: high, port: 80 }));
  const udp = table.add(new VirtualService({ protocol: "udp", vip: high, port: 80 }));
  const other = table.add(new VirtualService({ protocol: "tcp", vip: high, port: 443 }));
  assertEquals(table.size, 3);
  assertEquals(table.lookup("tcp", high, 80), tcp);
  assertEquals(table.lookup("udp", high, 80), udp);
  assertEquals(table.lookup("tcp", high, 443), other);
  assertEquals(table.lookup("udp", high, 443), null);
  assertEquals(table.lookup("tcp", high + 1, 80), null);
  assertEquals(table.lookup("tcp", high, 81), null);
  assert(table.hasVip(high) && !table.hasVip(high + 1));
  assertThrows(() => table.add(new VirtualService({ protocol: "tcp", vip: high, port: 80 })));
  assertEquals(table.remove("tcp", high, 80), tcp);
  assertEquals(table.remove("tcp", high, 80), null);
  assertEquals(table.lookup("tcp", high, 80), null);
  assertEquals(table.lookup("udp", high, 80), udp);
  assertEquals(table.list(), [udp, other]);
});

Deno.test("ServiceTable: a thousand services, all found, then all removed", () => {
  const table = new ServiceTable();
  const made: VirtualService[] = [];
  for (let i = 0; i < 1000; i++) {
    const protocol: Protocol = i % 2 ? "udp" : "tcp";
    const s = new VirtualService({
      protocol,
      vip: (0xfe000000 + (i >> 4)) >>> 0,
      port: 1 + (i & 15) * 4000,
      scheduler: "rr",
    });
    made.push(table.add(s));
  }
  for (const s of made) assertEquals(table.lookup(s.protocol, s.vip, s.port), s);
  for (const s of made.slice(0, 500)) table.remove(s.protocol, s.vip, s.port);
  for (const [i, s] of made.entries()) {
    assertEquals(table.lookup(s.protocol, s.vip, s.port), i < 500 ? null : s);
  }
});
