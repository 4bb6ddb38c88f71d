import { assert, assertEquals } from "../../assert.ts";
import { RealServer } from "../../../lb/service.ts";
import { SH_TABLE_SIZE, shBucket, SourceHashScheduler } from "../../../lb/scheduler/sh.ts";

function reals(...weights: number[]): RealServer[] {
  return weights.map((weight, i) => new RealServer({ address: 0x0a000001 + i, port: 80, weight }));
}

/** Deterministic pseudo-random client addresses (xorshift32), so failures reproduce. */
function clients(n: number, seed = 0x1234567): number[] {
  const out: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push(x >>> 0);
  }
  return out;
}

Deno.test("sh: the bucket is the high byte of address * 2654435761", () => {
  assertEquals(SH_TABLE_SIZE, 256);
  assertEquals(shBucket(0), 0);
  assertEquals(shBucket(1), 0x9e); // 0x9E3779B1 >>> 24
  assertEquals(shBucket(2), 0x3c); // 2 * 0x9E3779B1 = 0x13C6EF362 -> low 32 bits 0x3C6EF362
});

Deno.test("sh: buckets are dealt out in list order, weight consecutive buckets each", () => {
  const list = reals(2, 1);
  const s = new SourceHashScheduler();
  s.update(list);
  // Buckets: a a b a a b ... -> bucket % 3 < 2 is a.
  for (const c of clients(500)) {
    assertEquals(s.pick(c, 1), shBucket(c) % 3 < 2 ? list[0] : list[1]);
  }
});

Deno.test("sh: weights are divided by their gcd (4,2 deals like 2,1)", () => {
  const list = reals(4, 2);
  const s = new SourceHashScheduler();
  s.update(list);
  for (const c of clients(500)) {
    assertEquals(s.pick(c, 1), shBucket(c) % 3 < 2 ? list[0] : list[1]);
  }
});

Deno.test("sh: the same client always gets the same server, whatever its port", () => {
  const list = reals(1, 1, 1);
  const s1 = new SourceHashScheduler();
  const s2 = new SourceHashScheduler();
  s1.update(list);
  s2.update(list);
  for (const c of clients(200)) {
    const first = s1.pick(c, 1000);
    for (let port = 1001; port < 1010; port++) assertEquals(s1.pick(c, port), first);
    assertEquals(s2.pick(c, 5), first);
  }
});

Deno.test("sh: clients spread in proportion to the weights", () => {
  for (const weights of [[1, 1, 1], [2, 1, 1]]) {
    const list = reals(...weights);
    const s = new SourceHashScheduler();
    s.update(list);
    const counts = new Map<RealServer, number>();
    const cs = clients(30000, 99);
    for (const c of cs) counts.set(s.pick(c, 1)!, (counts.get(s.pick(c, 1)!) ?? 0) + 1);
    const total = weights.reduce((a, b) => a + b, 0);
    list.forEach((r, i) => {
      const share = (counts.get(r) ?? 0) / cs.length;
      assert(Math.abs(share - weights[i] / total) < 0.05, `${weights}: server ${i} got ${share}`);
    });
  }
});

Deno.test("sh: an unavailable server's clients move, every other client stays", () => {
  const list = reals(1, 1, 1, 1);
  const s = new SourceHashScheduler();
  s.update(list);
  const cs = clients(5000, 7);
  const before = cs.map((c) => s.pick(c, 1));
  list[1].available = false;
  s.update(list);
  let moved = 0;
  cs.forEach((c, i) => {
    const now = s.pick(c, 1);
    assert(now !== null && now !== list[1]);
    if (before[i] !== list[1]) assertEquals(now, before[i]);
    else moved++;
  });
  assert(moved > 0);
  // The moved clients spread over the three others rather than piling on one.
  const spread = new Set(cs.filter((_, i) => before[i] === list[1]).map((c) => s.pick(c, 1)));
  assertEquals(spread.size, 3);
});

Deno.test("sh: weight 0 never picked; all zero or all unavailable gives null", () => {
  const list = reals(1, 0, 1);
  const s = new SourceHashScheduler();
  s.update(list);
  for (const c of clients(2000)) assert(s.pick(c, 1) !== list[1]);
  list[0].weight = 0;
  list[2].weight = 0;
  s.update(list);
  for (const c of clients(50)) assertEquals(s.pick(c, 1), null);
  list[0].weight = 1;
  list[0].available = false;
  s.update(list);
  for (const c of clients(50)) assertEquals(s.pick(c, 1), null);
  s.update([]);
  assertEquals(s.pick(1, 1), null);
});

Deno.test("sh: a server with one bucket is still found when it is the only one left", () => {
  const list = reals(255, 1);
  const s = new SourceHashScheduler();
  s.update(list);
  list[0].available = false; // no update(): the table still maps 255 buckets to it
  for (const c of clients(100)) assertEquals(s.pick(c, 1), list[1]);
});
