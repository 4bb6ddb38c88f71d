import { assert, assertEquals } from "../../assert.ts";
import { RealServer } from "../../../lb/service.ts";
import { WeightedRoundRobinScheduler } from "../../../lb/scheduler/wrr.ts";

function reals(...weights: number[]): RealServer[] {
  return weights.map((weight, i) => new RealServer({ address: 0x0a000001 + i, port: 80, weight }));
}

function picks(s: WeightedRoundRobinScheduler, list: RealServer[], n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = s.pick(0x0b000001, 1000 + i);
    out += r === null ? "-" : String.fromCharCode(97 + list.indexOf(r));
  }
  return out;
}

Deno.test("wrr: weights 4,3,2 give IPVS's interleaved cycle", () => {
  // ip_vs_wrr.c by hand: gcd di = 1, mw = 4 - (di - 1) = 4, cw starts at mw.
  // pass cw=4: weights >= 4 -> a
  // pass cw=3: -> a b
  // pass cw=2: -> a b c
  // pass cw=1: -> a b c, then cw would be 0: back to cw = mw = 4.
  const list = reals(4, 3, 2);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  const cycle = "a" + "ab" + "abc" + "abc";
  assertEquals(picks(s, list, 27), cycle + cycle + cycle);
});

Deno.test("wrr: the gcd is the step (weights 2,4 -> b a b)", () => {
  // di = 2, mw = 4 - (2 - 1) = 3. pass cw=3: b; pass cw=1: a b; then cw = -1 -> back to 3.
  const list = reals(2, 4);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 9), "babbabbab");
});

Deno.test("wrr: equal weights are plain round robin", () => {
  const list = reals(3, 3, 3);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 6), "abcabc");
});

Deno.test("wrr: shares follow the weights over many picks", () => {
  const list = reals(5, 1, 3, 7);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  const seq = picks(s, list, 16 * 50);
  const count = (c: string) => seq.split("").filter((x) => x === c).length;
  assertEquals([count("a"), count("b"), count("c"), count("d")], [250, 50, 150, 350]);
});

Deno.test("wrr: an unavailable server is planned out like weight 0", () => {
  // c unavailable: weights (4, 3) plan: cw=4: a; cw=3: a b; cw=2: a b; cw=1: a b.
  const list = reals(4, 3, 2);
  list[2].available = false;
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 14), "aababab" + "aababab");
});

Deno.test("wrr: a server turned unavailable without update() is still never picked", () => {
  const list = reals(4, 3, 2);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  list[0].available = false;
  const seq = picks(s, list, 40);
  assert(!seq.includes("a"), seq);
  assert(seq.includes("b") && seq.includes("c"), seq);
});

Deno.test("wrr: weight 0 is never picked; all zero or unavailable gives null", () => {
  const list = reals(0, 2, 0);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 4), "bbbb");
  list[1].weight = 0;
  s.update(list);
  assertEquals(picks(s, list, 3), "---");
  list[1].weight = 2;
  list[1].available = false;
  s.update(list);
  assertEquals(picks(s, list, 3), "---");
  s.update([]);
  assertEquals(s.pick(1, 1), null);
});

Deno.test("wrr: weight changes mid-cycle keep the shares right afterwards", () => {
  const list = reals(4, 3, 2);
  const s = new WeightedRoundRobinScheduler();
  s.update(list);
  picks(s, list, 5);
  list[0].weight = 1;
  list[2].weight = 6;
  s.update(list);
  const seq = picks(s, list, 10 * 30);
  const count = (c: string) => seq.split("").filter((x) => x === c).length;
  // One full cycle is 1 + 3 + 6 = 10 picks; a partial first cycle may shift each by < 10.
  assert(Math.abs(count("a") - 30) < 10 && Math.abs(count("b") - 90) < 10, seq);
  assert(Math.abs(count("c") - 180) < 10, seq);
});
