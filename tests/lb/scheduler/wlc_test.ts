import { assertEquals } from "../../assert.ts";
import { RealServer } from "../../../lb/service.ts";
import { WeightedLeastConnectionScheduler } from "../../../lb/scheduler/wlc.ts";

function real(i: number, weight: number, active: number, inactive: number): RealServer {
  const r = new RealServer({ address: 0x0a000001 + i, weight });
  r.activeConns = active;
  r.inactiveConns = inactive;
  return r;
}

Deno.test("wlc: least overhead per weight (cross-multiplied)", () => {
  const a = real(0, 1, 1, 0); // 256 / 1 = 256
  const b = real(1, 3, 2, 0); // 512 / 3 = 170.7
  const c = real(2, 2, 1, 100); // 356 / 2 = 178
  const s = new WeightedLeastConnectionScheduler();
  s.update([a, b, c]);
  assertEquals(s.pick(1, 1), b);
  b.inactiveConns = 22; // 534 / 3 = 178 = c's 356 / 2: a tie keeps the earlier one (b)
  assertEquals(s.pick(1, 1), b);
  b.inactiveConns = 23; // 535 / 3 > 178
  assertEquals(s.pick(1, 1), c);
});

Deno.test("wlc: new flows split in proportion to the weights", () => {
  const list = [real(0, 1, 0, 0), real(1, 2, 0, 0), real(2, 3, 0, 0)];
  const s = new WeightedLeastConnectionScheduler();
  s.update(list);
  for (let i = 0; i < 600; i++) s.pick(1, i)!.activeConns++;
  assertEquals(list.map((r) => r.activeConns), [100, 200, 300]);
});

Deno.test("wlc: weight 0 and unavailable are skipped; none left gives null", () => {
  const a = real(0, 0, 0, 0);
  const b = real(1, 5, 100, 0);
  const c = real(2, 5, 0, 0);
  c.available = false;
  const s = new WeightedLeastConnectionScheduler();
  s.update([a, b, c]);
  assertEquals(s.pick(1, 1), b);
  b.available = false;
  assertEquals(s.pick(1, 1), null);
});
