/**
 * The status document (lb/status.ts): rate history aligned with the sample times (null before a
 * server existed, a ring of 150 samples), health-change times, paging of 1,000 real servers with
 * every down server still listed, the drops by reason, and the whole document valid against
 * docs/status.schema.json.
 */
import { assert, assertEquals } from "../assert.ts";
import { FakeClock } from "../../stack/clock.ts";
import { RateEstimator } from "../../lb/rates.ts";
import {
  buildStatus,
  HISTORY_SAMPLES,
  pageParam,
  REALS_PER_PAGE,
  type StatusDoc,
  StatusHistory,
} from "../../lb/status.ts";
import { VirtualService } from "../../lb/service.ts";
import { REAL1, rig } from "./_rig.ts";
import { ip } from "./_packets.ts";
import { statusValidator } from "./_status_schema.ts";
import { rig6 } from "./_rig6.ts";

/** A history on a FakeClock-driven estimator, with a fake wall clock. */
function setup() {
  const clock = new FakeClock(0);
  const est = new RateEstimator(clock);
  let wall = 1_700_000_000_000;
  const history = new StatusHistory(2000, () => wall);
  const sample = (services: VirtualService[]) => {
    clock.advance(2000);
    wall += 2000;
    assert(est.maybeSample(services.flatMap((s) => [s, ...s.reals])));
    history.record(services, est);
  };
  return { est, history, sample, wall: () => wall, setWall: (w: number) => wall = w };
}

Deno.test("StatusHistory: series follow the samples; a late server has nulls before it", () => {
  const { history, sample } = setup();
  const svc = new VirtualService({ protocol: "tcp", vip: ip("10.0.0.100"), port: 80 });
  const r1 = svc.addReal({ address: REAL1 });
  svc.conns = 400; // 200/s over the first 2 s: the estimate moves a quarter of the way, 50
  sample([svc]);
  const r2 = svc.addReal({ address: ip("10.0.0.12") });
  r2.conns = 40;
  sample([svc]);
  assertEquals(history.times().length, 2);
  assertEquals(history.times()[1] - history.times()[0], 2000);
  assertEquals(history.series(svc).cps, [50, 38]); // 50 + (0 - 50) / 4 = 37.5, rounded
  assertEquals(history.series(r1).cps, [0, 0]);
  assertEquals(history.series(r2).cps, [null, 5]);
  // The ring keeps the last 150 samples.
  for (let i = 0; i < 200; i++) {
    svc.packetsIn += 2000; // 1,000 packets/s
    sample([svc]);
  }
  assertEquals(history.times().length, HISTORY_SAMPLES);
  const pps = history.series(svc).pps;
  assertEquals(pps.length, HISTORY_SAMPLES);
  assertEquals(pps.at(-1), 1000);
  // A server that left the service gets no samples: its later ones are null.
  svc.removeReal(ip("10.0.0.12"));
  sample([svc]);
  assertEquals(history.series(r2).cps.at(-1), null);
  assertEquals(history.series(r2).cps.at(-2), 0);
});

Deno.test("buildStatus: 1,000 real servers a page at a time; every down server listed", async () => {
  const r = rig({
    services: [{ method: "dr", reals: [] }, { port: 443, method: "dr", reals: [] }],
  });
  try {
    const [a, b] = r.balancer.services.list();
    for (let i = 0; i < 600; i++) a.addReal({ address: ip(`10.1.${i >> 8}.${i & 255}`) });
    for (let i = 0; i < 400; i++) b.addReal({ address: ip(`10.2.${i >> 8}.${i & 255}`) });
    const { est, history, sample, setWall } = setup();
    sample([a, b]);
    const t0 = history.times()[0];
    // Server 700 overall (b's 100th) goes down after the first sample.
    setWall(t0 + 5000);
    b.editReal(ip("10.2.0.100"), 0, { available: false });
    const doc = (page: number) =>
      buildStatus({
        snapshot: r.balancer.snapshot(),
        services: r.balancer.services.list(),
        estimator: est,
        history,
        stackCounters: { "drop.ipv4_bad_checksum": 3, "lb.drop_no_flow": 2, "rx_frames": 9 },
        events: [{ ts: new Date(t0).toISOString(), event: "config", message: "x" }],
        checkOf: (s) => s.port === 443 ? "tcp" : null,
        now: t0 + 6000,
      }, page);
    const first = doc(1);
    const validate = await statusValidator();
    assert(validate(first), JSON.stringify(validate.errors));
    assertEquals(first.reals.total, 1000);
    assertEquals(first.reals.pages, 1000 / REALS_PER_PAGE);
    assertEquals(first.reals.items.length, REALS_PER_PAGE);
    assertEquals(first.services.map((s) => [s.name, s.reals, s.check]), [
      ["tcp 10.0.0.100:80", { total: 600, down: 0, first: 0 }, null],
      ["tcp 10.0.0.100:443", { total: 400, down: 1, first: 600 }, "tcp"],
    ]);
    // The down server is on page 15, but every page names it, with when it went down.
    assertEquals(first.down, [{
      service: 1,
      address: "10.2.0.100",
      port: 443,
      since: new Date(t0 + 5000).toISOString(),
    }]);
    // Unchecked servers of service 0; checked ones of service 1.
    assertEquals(first.reals.items[0].health, "unchecked");
    const p15 = doc(15);
    const row = p15.reals.items.find((x) => x.address === "10.2.0.100")!;
    assertEquals([row.service, row.health, row.healthSince], [
      1,
      "down",
      new Date(t0 + 5000).toISOString(),
    ]);
    // Page 15 is servers 700..749: b's 100th (the down one) to its 149th.
    assertEquals(p15.reals.items[0].address, "10.2.0.100");
    assertEquals(p15.reals.items.at(-1)?.address, "10.2.0.149");
    assertEquals(p15.reals.items.filter((x) => x.health === "up").length, REALS_PER_PAGE - 1);
    // Past the last page: the last page.
    const last = doc(999);
    assertEquals(last.reals.page, 20);
    assertEquals(last.reals.items.at(-1)?.address, "10.2.1.143"); // b's 400th: 399 = 1 * 256 + 143
    assertEquals(first.drops, [
      { layer: "stack", reason: "ipv4_bad_checksum", count: 3 },
      { layer: "balancer", reason: "no_flow", count: 2 },
    ]);
    // A page of 50 servers with their history stays small (the poll is every 2 s).
    assert(JSON.stringify(first).length < 100_000, `${JSON.stringify(first).length} bytes`);
  } finally {
    r.stack.close();
  }
});

Deno.test("pageParam: a positive integer, else 1", () => {
  assertEquals(
    [pageParam(null), pageParam("3"), pageParam("0"), pageParam("-2"), pageParam("x")],
    [1, 3, 1, 1, 1],
  );
});

Deno.test("docs/status.schema.json: rejects a document missing a key or with a bad health", async () => {
  const validate = await statusValidator();
  const r = rig({ services: [{ method: "dr", reals: [{ address: REAL1 }] }] });
  try {
    const { est, history, sample } = setup();
    sample(r.balancer.services.list() as VirtualService[]);
    const doc: StatusDoc = buildStatus({
      snapshot: r.balancer.snapshot(),
      services: r.balancer.services.list(),
      estimator: est,
      history,
      stackCounters: {},
      events: [],
      checkOf: () => null,
      now: Date.now(),
    }, 1);
    assert(validate(doc), JSON.stringify(validate.errors));
    const { drops: _, ...noDrops } = doc;
    assert(!validate(noDrops));
    const bad = structuredClone(doc);
    (bad.reals.items[0] as { health: string }).health = "sick";
    assert(!validate(bad));
  } finally {
    r.stack.close();
  }
});

Deno.test("docs/status.schema.json: an IPv6 service and its servers are valid; a non-address is not", async () => {
  const validate = await statusValidator();
  const r = rig6([{ method: "nat", reals: [{ index: 0, port: 8080 }] }]);
  try {
    const { est, history, sample } = setup();
    sample(r.balancer.services.list() as VirtualService[]);
    r.balancer.services.list()[0].reals[0].available = false;
    const doc: StatusDoc = buildStatus({
      snapshot: r.balancer.snapshot(),
      services: r.balancer.services.list(),
      estimator: est,
      history,
      stackCounters: {},
      events: [],
      checkOf: () => null,
      now: Date.now(),
    }, 1);
    assert(validate(doc), JSON.stringify(validate.errors));
    assertEquals(doc.services[0].name, "tcp [2001:db8::100]:80");
    assertEquals(doc.reals.items[0].address, "2001:db8::11");
    const bad = structuredClone(doc);
    (bad.reals.items[0] as { address: string }).address = "2001:db8::zz";
    assert(!validate(bad));
  } finally {
    r.stack.close();
  }
});
