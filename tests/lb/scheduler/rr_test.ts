import { assertEquals } from "../../assert.ts";
import { RealServer } from "../../../lb/service.ts";
import { RoundRobinScheduler } from "../../../lb/scheduler/rr.ts";

function reals(...weights: number[]): RealServer[] {
  return weights.map((weight, i) => new RealServer({ address: 0x0a000001 + i, port: 80, weight }));
}

/** Names of `n` picks: the real's index in `list` as a letter (a, b, ...), "-" for null. */
function picks(s: RoundRobinScheduler, list: RealServer[], n: number): string {
  let out = "";
  for (let i = 0; i < n; i++) {
    const r = s.pick(0x0b000001, 40000 + i);
    out += r === null ? "-" : String.fromCharCode(97 + list.indexOf(r));
  }
  return out;
}

Deno.test("rr: cycles through the servers in list order", () => {
  const list = reals(1, 1, 1);
  const s = new RoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 7), "abcabca");
});

Deno.test("rr: weights other than 0 do not matter", () => {
  const list = reals(5, 1, 3);
  const s = new RoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 6), "abcabc");
});

Deno.test("rr: weight 0 and unavailable servers are skipped", () => {
  const list = reals(1, 0, 1, 1);
  list[3].available = false;
  const s = new RoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 4), "acac");
});

Deno.test("rr: no server taking new flows gives null", () => {
  const s = new RoundRobinScheduler();
  s.update([]);
  assertEquals(s.pick(1, 1), null);
  const list = reals(0, 0);
  s.update(list);
  assertEquals(picks(s, list, 2), "--");
  list[0].weight = 1;
  list[0].available = false;
  s.update(list);
  assertEquals(picks(s, list, 2), "--");
});

Deno.test("rr: removing the last-picked server continues with the one after it", () => {
  const list = reals(1, 1, 1, 1);
  const s = new RoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 2), "ab");
  const [a, , c, d] = list;
  const shorter = [a, c, d];
  s.update(shorter); // b (last picked) removed
  assertEquals(picks(s, shorter, 4), "bcab"); // c, d, a, c as letters of `shorter`
});

Deno.test("rr: an update keeps the position when the last-picked server stays", () => {
  const list = reals(1, 1, 1);
  const s = new RoundRobinScheduler();
  s.update(list);
  assertEquals(picks(s, list, 1), "a");
  const more = [...list, new RealServer({ address: 0x0a0000ff, weight: 1 })];
  s.update(more);
  assertEquals(picks(s, more, 5), "bcdab");
});
