import { assertEquals } from "../../assert.ts";
import { RealServer } from "../../../lb/service.ts";
import { connOverhead, LeastConnectionScheduler } from "../../../lb/scheduler/lc.ts";

function real(i: number, weight: number, active: number, inactive: number): RealServer {
  const r = new RealServer({ address: 0x0a000001 + i, weight });
  r.activeConns = active;
  r.inactiveConns = inactive;
  return r;
}

Deno.test("lc: overhead is active * 256 + inactive", () => {
  assertEquals(connOverhead(real(0, 1, 3, 7)), 3 * 256 + 7);
});

Deno.test("lc: picks the least overhead; an active flow weighs 256 inactive ones", () => {
  const a = real(0, 1, 1, 0); // 256
  const b = real(1, 1, 0, 255); // 255
  const c = real(2, 1, 0, 300); // 300
  const s = new LeastConnectionScheduler();
  s.update([a, b, c]);
  assertEquals(s.pick(1, 1), b);
  b.inactiveConns = 256; // tie with a: the first in list order wins
  assertEquals(s.pick(1, 1), a);
});

Deno.test("lc: weights other than 0 do not matter", () => {
  const a = real(0, 100, 2, 0);
  const b = real(1, 1, 1, 0);
  const s = new LeastConnectionScheduler();
  s.update([a, b]);
  assertEquals(s.pick(1, 1), b);
});

Deno.test("lc: new flows even out the active counts", () => {
  const list = [real(0, 1, 5, 0), real(1, 1, 0, 0), real(2, 1, 2, 0)];
  const s = new LeastConnectionScheduler();
  s.update(list);
  for (let i = 0; i < 9; i++) s.pick(1, i)!.activeConns++;
  assertEquals(list.map((r) => r.activeConns), [6, 5, 5]);
});

Deno.test("lc: weight 0 and unavailable are skipped; none left gives null", () => {
  const a = real(0, 0, 0, 0);
  const b = real(1, 1, 9, 0);
  const c = real(2, 1, 0, 0);
  c.available = false;
  const s = new LeastConnectionScheduler();
  s.update([a, b, c]);
  assertEquals(s.pick(1, 1), b);
  b.weight = 0;
  assertEquals(s.pick(1, 1), null);
  s.update([]);
  assertEquals(s.pick(1, 1), null);
});
