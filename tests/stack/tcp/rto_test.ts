/** RFC 6298 retransmission timeout arithmetic. */
import { assert, assertEquals } from "../../assert.ts";
import { RttEstimator } from "../../../stack/tcp/rto.ts";

Deno.test("RFC 6298 2.1: 1 s before any sample", () => {
  assertEquals(new RttEstimator().rto, 1000);
  assertEquals(new RttEstimator({ initialRtoMs: 3000 }).rto, 3000);
});

Deno.test("RFC 6298 2.2/2.3: SRTT and RTTVAR follow the formulas sample by sample", () => {
  const e = new RttEstimator({ minRtoMs: 1, maxRtoMs: 60_000, granularityMs: 1 });
  const samples = [100, 120, 80, 300, 90, 95, 100];
  let srtt = 0;
  let rttvar = 0;
  samples.forEach((r, i) => {
    e.sample(r);
    if (i === 0) {
      srtt = r;
      rttvar = r / 2;
    } else {
      rttvar = (1 - 1 / 4) * rttvar + (1 / 4) * Math.abs(srtt - r);
      srtt = (1 - 1 / 8) * srtt + (1 / 8) * r;
    }
    assert(Math.abs(e.srtt - srtt) < 1e-9, `srtt after ${r}`);
    assert(Math.abs(e.rttvar - rttvar) < 1e-9, `rttvar after ${r}`);
    assert(Math.abs(e.rto - (srtt + Math.max(1, 4 * rttvar))) < 1e-9, `rto after ${r}`);
  });
});

Deno.test("RFC 6298 2.3: RTO = SRTT + max(G, 4 RTTVAR) with the clock granularity", () => {
  const e = new RttEstimator({ minRtoMs: 0.001, granularityMs: 10 });
  e.sample(50);
  e.sample(50);
  e.sample(50); // RTTVAR shrinks toward 0: G takes over
  for (let i = 0; i < 40; i++) e.sample(50);
  assert(Math.abs(e.rto - 60) < 0.01, `rto ${e.rto}`);
});

Deno.test("RFC 6298 2.4/2.5: the minimum (configurable) and maximum bound the RTO", () => {
  const e = new RttEstimator({ minRtoMs: 200, maxRtoMs: 5000 });
  e.sample(1);
  assertEquals(e.rto, 200);
  const f = new RttEstimator({ minRtoMs: 1000 });
  f.sample(1);
  assertEquals(f.rto, 1000);
  const g = new RttEstimator({ maxRtoMs: 5000 });
  g.sample(4000);
  assertEquals(g.rto, 5000);
});

Deno.test("RFC 6298 5.5: each expiry doubles the RTO up to the maximum; a sample ends it", () => {
  const e = new RttEstimator({ minRtoMs: 200, maxRtoMs: 3000 });
  e.sample(10);
  assertEquals(e.rto, 200);
  e.expired();
  assertEquals(e.rto, 400);
  e.expired();
  assertEquals(e.rto, 800);
  e.expired();
  e.expired();
  assertEquals(e.rto, 3000);
  e.expired();
  assertEquals(e.rto, 3000);
  e.sample(10);
  assertEquals(e.backoff, 0);
  assertEquals(e.rto, 200);
});

Deno.test("RFC 7323 appendix G: ExpectedSamples scales alpha and beta down", () => {
  const a = new RttEstimator({ minRtoMs: 1 });
  const b = new RttEstimator({ minRtoMs: 1 });
  a.sample(100);
  b.sample(100);
  a.sample(200);
  b.sample(200, 4);
  assertEquals(a.srtt, 100 + (200 - 100) / 8);
  assertEquals(b.srtt, 100 + (200 - 100) / 32);
});
