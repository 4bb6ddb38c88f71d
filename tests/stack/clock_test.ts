import assert from "node:assert/strict";
import { FakeClock, systemClock } from "../../stack/clock.ts";

Deno.test("FakeClock starts where told and moves only when told", () => {
  const c = new FakeClock(5);
  assert.equal(c.now(), 5);
  assert.equal(c.now(), 5);
  c.advance(10);
  assert.equal(c.now(), 15);
  c.set(100);
  assert.equal(c.now(), 100);
  c.advance(0);
  assert.equal(c.now(), 100);
});

Deno.test("FakeClock refuses to go backwards", () => {
  const c = new FakeClock(50);
  assert.throws(() => c.advance(-1), RangeError);
  assert.throws(() => c.set(49), RangeError);
  assert.throws(() => c.advance(NaN), RangeError);
  assert.equal(c.now(), 50);
});

Deno.test("systemClock is monotonic and in milliseconds", async () => {
  const a = systemClock.now();
  await new Promise((r) => setTimeout(r, 20));
  const b = systemClock.now();
  assert.ok(b - a >= 15, `elapsed ${b - a} ms`);
  assert.ok(b - a < 5000);
});
