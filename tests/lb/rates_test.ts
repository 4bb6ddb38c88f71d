import { assertEquals } from "../assert.ts";
import { FakeClock } from "../../stack/clock.ts";
import { type RateCounters, RateEstimator, rateItems, withRates } from "../../lb/rates.ts";
import { VirtualService } from "../../lb/service.ts";
import type { BalancerSnapshot } from "../../lb/balancer.ts";

function counters(): RateCounters {
  return { conns: 0, packetsIn: 0, packetsOut: 0, bytesIn: 0, bytesOut: 0 };
}

Deno.test("RateEstimator: samples every 2 s, moves a quarter of the way (ip_vs_est.c)", () => {
  const clock = new FakeClock(0);
  const est = new RateEstimator(clock);
  const c = counters();
  clock.advance(1999);
  assertEquals(est.maybeSample([c]), false);
  clock.advance(1);
  assertEquals(est.maybeSample([c]), true);
  assertEquals(est.rates(c), { cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 });
  // A counter set first seen with traffic: counted from 0 since the last sample.
  const fresh = { ...counters(), conns: 80 };
  clock.advance(2000);
  est.maybeSample([fresh]);
  assertEquals(est.rates(fresh).cps, 10); // 40/s, a quarter of the way
  // A steady 100 conns/s, 800 packets/s, 1 MB/s in for 2 s.
  const step = () => {
    c.conns += 200;
    c.packetsIn += 1600;
    c.bytesIn += 2_000_000;
    clock.advance(2000);
    est.maybeSample([c]);
  };
  step();
  assertEquals(est.rates(c), { cps: 25, inPps: 200, outPps: 0, inBps: 250_000, outBps: 0 });
  step();
  // 25 + (100 - 25) / 4 = 43.75
  assertEquals(est.rates(c).cps, 44);
  assertEquals(est.rates(c).inBps, 437_500);
  for (let i = 0; i < 80; i++) step(); // (3/4)^80 of the gap is left: nothing
  assertEquals(est.rates(c), { cps: 100, inPps: 800, outPps: 0, inBps: 1_000_000, outBps: 0 });
  // Traffic stops: the estimate decays by 3/4 per period.
  clock.advance(2000);
  est.maybeSample([c]);
  assertEquals(est.rates(c).cps, 75);
});

Deno.test("RateEstimator: a late sample divides by the real elapsed time; zeroing restarts", () => {
  const clock = new FakeClock(0);
  const est = new RateEstimator(clock);
  const c = counters();
  clock.advance(2000);
  est.maybeSample([c]);
  c.packetsOut = 4000;
  clock.advance(4000); // a missed period: 1000 packets/s, not 2000
  est.maybeSample([c]);
  assertEquals(est.rates(c).outPps, 250);
  c.packetsOut = 0; // ipvsadm -Z
  clock.advance(2000);
  est.maybeSample([c]);
  assertEquals(est.rates(c).outPps, 188); // 250 * 3/4 = 187.5: the negative delta counts as 0
});

Deno.test("withRates: fills the snapshot's services and reals in order", () => {
  const clock = new FakeClock(0);
  const est = new RateEstimator(clock, 1000);
  const s = new VirtualService({ protocol: "tcp", vip: 1, port: 80 });
  const r1 = s.addReal({ address: 2 });
  const r2 = s.addReal({ address: 3 });
  clock.advance(1000);
  est.maybeSample(rateItems([s]));
  s.conns = 8;
  r1.conns = 8;
  r2.bytesOut = 4000;
  clock.advance(1000);
  est.maybeSample(rateItems([s]));
  const snap: BalancerSnapshot = {
    capacity: 1,
    connections: 0,
    embryonic: 0,
    table: {},
    counters: {},
    services: [{
      protocol: "tcp",
      vip: "0.0.0.1",
      port: 80,
      scheduler: "wlc",
      flags: "",
      conns: 8,
      packetsIn: 0,
      packetsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      reals: [r1, r2].map((r) => ({
        address: "x",
        port: 80,
        weight: 1,
        method: "dr",
        activeConns: 0,
        inactiveConns: 0,
        conns: r.conns,
        packetsIn: 0,
        packetsOut: 0,
        bytesIn: 0,
        bytesOut: r.bytesOut,
      })),
    }],
  };
  withRates(snap, [s], est);
  assertEquals(snap.services[0].rates?.cps, 2);
  assertEquals(snap.services[0].reals.map((r) => [r.rates?.cps, r.rates?.outBps]), [[2, 0], [
    0,
    1000,
  ]]);
});
