import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { VirtualService } from "../../../lb/service.ts";
import {
  formatHealthEvent,
  HealthChecker,
  type HealthEvent,
  HealthState,
  parseCheckSpec,
} from "../../../lb/health/checker.ts";

const VIP = 0x0a000001;
const R1 = 0x0a000002;
const R2 = 0x0a000003;

Deno.test("HealthState: fall consecutive failures go down, rise successes come back", () => {
  const h = new HealthState(2, 3);
  assert(h.up);
  assertEquals(h.record(false), false);
  assertEquals(h.record(false), false);
  assertEquals(h.record(true), false); // a success resets the failure run
  assertEquals(h.record(false), false);
  assertEquals(h.record(false), false);
  assertEquals(h.record(false), true);
  assertEquals(h.up, false);
  assertEquals(h.record(false), false);
  assertEquals(h.record(true), false);
  assertEquals(h.record(false), false); // a failure resets the success run
  assertEquals(h.record(true), false);
  assertEquals(h.record(true), true);
  assertEquals(h.up, true);
  assertThrows(() => new HealthState(0, 1), RangeError);
  assertThrows(() => new HealthState(1, 1.5), RangeError);
});

function rig(results: (string | null)[]) {
  const clock = new FakeClock(1000);
  const service = new VirtualService({ protocol: "tcp", vip: VIP, port: 80, scheduler: "rr" });
  const r1 = service.addReal({ address: R1, weight: 5 });
  service.addReal({ address: R2 });
  const events: HealthEvent[] = [];
  let probes = 0;
  const checker = new HealthChecker({
    service,
    real: r1,
    clock,
    timing: { intervalMs: 1000, rise: 2, fall: 2 },
    probe: () => Promise.resolve(results[probes++] ?? null),
    onChange: (e) => events.push(e),
    names: { service: "tcp 10.0.0.1:80", real: "10.0.0.2:80" },
  });
  return { clock, service, r1, events, checker, probeCount: () => probes };
}

Deno.test("HealthChecker: probes once per interval on the tick", async () => {
  const { clock, checker, probeCount } = rig([]);
  await checker.tick(); // due at start
  assertEquals(probeCount(), 1);
  assertEquals(checker.tick(), null); // not due yet
  clock.advance(999);
  assertEquals(checker.tick(), null);
  clock.advance(1);
  await checker.tick();
  assertEquals(probeCount(), 2);
});

Deno.test("HealthChecker: a probe still running is not started again", async () => {
  const clock = new FakeClock();
  const service = new VirtualService({ protocol: "tcp", vip: VIP, port: 80 });
  const real = service.addReal({ address: R1 });
  let release = (_r: string | null) => {};
  let started = 0;
  const checker = new HealthChecker({
    service,
    real,
    clock,
    timing: { intervalMs: 10 },
    probe: () => {
      started++;
      return new Promise((resolve) => release = resolve);
    },
    names: { service: "s", real: "r" },
  });
  const p = checker.tick();
  assert(p !== null);
  clock.advance(100);
  assertEquals(checker.tick(), null);
  release(null);
  await p;
  assertEquals(started, 1);
});

Deno.test("HealthChecker: down after fall, scheduler skips it, up after rise", async () => {
  const { clock, service, r1, events, checker } = rig([
    null,
    "refused",
    "refused",
    "x",
    null,
    null,
  ]);
  const step = async () => {
    await checker.tick();
    clock.advance(1000);
  };
  await step(); // ok
  await step(); // fail 1
  assert(r1.available);
  assertEquals(events.length, 0);
  await step(); // fail 2 -> down
  assertEquals(r1.available, false);
  assertEquals(r1.weight, 5, "weight kept");
  assertEquals(events, [{
    state: "down",
    service: "tcp 10.0.0.1:80",
    real: "10.0.0.2:80",
    reason: "refused",
  }]);
  // The scheduler was told: every pick is the other server now.
  for (let i = 0; i < 4; i++) assertEquals(service.scheduler.pick(1, 1000 + i)?.address, R2);
  await step(); // fail
  await step(); // ok 1
  assertEquals(r1.available, false);
  await step(); // ok 2 -> up
  assert(r1.available);
  assertEquals(events.length, 2);
  assertEquals(events[1].state, "up");
  assertEquals(events[1].reason, "2 consecutive successful checks");
  const picked = new Set<number>();
  for (let i = 0; i < 4; i++) picked.add(service.scheduler.pick(1, 2000 + i)?.address ?? 0);
  assert(picked.has(R1) && picked.has(R2));
});

Deno.test("HealthChecker: a rejecting probe counts as a failure", async () => {
  const clock = new FakeClock();
  const service = new VirtualService({ protocol: "tcp", vip: VIP, port: 80 });
  const real = service.addReal({ address: R1 });
  const checker = new HealthChecker({
    service,
    real,
    clock,
    timing: { fall: 1 },
    probe: () => Promise.reject(new Error("boom")),
    names: { service: "s", real: "r" },
  });
  await checker.runOnce();
  assertEquals(real.available, false);
  assertEquals(checker.lastReason, "probe error: boom");
});

Deno.test("formatHealthEvent: JSON object per line, or a plain line", () => {
  const e: HealthEvent = {
    state: "down",
    service: "tcp 10.0.0.1:80",
    real: "10.0.0.2:80",
    reason: "r",
  };
  const at = new Date(Date.UTC(2026, 10, 25, 12, 0, 0));
  assertEquals(JSON.parse(formatHealthEvent(e, "json", at)), {
    ts: "2026-11-25T12:00:00.000Z",
    event: "health",
    message: "tcp 10.0.0.1:80 real 10.0.0.2:80 DOWN: r",
    state: "down",
    service: "tcp 10.0.0.1:80",
    real: "10.0.0.2:80",
    reason: "r",
  });
  assertEquals(
    formatHealthEvent(e, "plain", at),
    "2026-11-25T12:00:00.000Z health tcp 10.0.0.1:80 real 10.0.0.2:80 DOWN: r",
  );
});

Deno.test("parseCheckSpec: tcp, http defaults, path and status; bad input is a reason", () => {
  assertEquals(parseCheckSpec("tcp"), { kind: "tcp" });
  assertEquals(parseCheckSpec("http"), { kind: "http", path: "/", status: 200 });
  assertEquals(parseCheckSpec("http:/healthz"), { kind: "http", path: "/healthz", status: 200 });
  assertEquals(parseCheckSpec("http:/h:204"), { kind: "http", path: "/h", status: 204 });
  for (
    const bad of ["udp", "http:/a:2000", "http:/a:abc", "http:nopath", "http:/a b", "http:/:1:2"]
  ) {
    assertEquals(typeof parseCheckSpec(bad), "string", bad);
  }
});
