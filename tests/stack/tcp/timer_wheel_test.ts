/** The timer wheel: expiry order, moves, cancels, deadlines beyond one revolution, long pauses. */
import { assertEquals } from "../../assert.ts";
import { type TimerNode, TimerWheel } from "../../../stack/tcp/timer_wheel.ts";

class N implements TimerNode {
  timerAt = 0;
  timerSlot = -1;
  timerPrev: TimerNode | null = null;
  timerNext: TimerNode | null = null;
  constructor(readonly id: number) {}
}

Deno.test("nodes fire once their time has come, never early", () => {
  const w = new TimerWheel<N>(0, 10, 16);
  const fired: [number, number][] = [];
  const nodes = [5, 25, 25, 150, 1000, 37].map((_, i) => new N(i));
  [5, 25, 25, 150, 1000, 37].forEach((at, i) => w.schedule(nodes[i], at));
  w.cancel(nodes[2]);
  w.schedule(nodes[5], 12); // moved earlier
  assertEquals(w.size, 5);
  for (let now = 0; now <= 1200; now += 7) {
    w.advance(now, (n) => fired.push([n.id, now]));
  }
  // Each fires exactly once (nodes due in the same tick may fire in any order).
  assertEquals(fired.map(([id]) => id).sort(), [0, 1, 3, 4, 5]);
  for (const [id, now] of fired) {
    const at = { 0: 5, 5: 12, 1: 25, 3: 150, 4: 1000 }[id]!;
    assertEquals(now >= at && now < at + 17, true, `node ${id} at ${now} for ${at}`);
  }
  assertEquals(w.size, 0);
});

Deno.test("a long pause fires everything due; a callback may reschedule", () => {
  const w = new TimerWheel<N>(0, 10, 8);
  const a = new N(1);
  const b = new N(2);
  w.schedule(a, 50);
  w.schedule(b, 100_000);
  let count = 0;
  w.advance(5000, (n) => {
    count++;
    if (n === a && count < 3) w.schedule(a, 5000 + 10 * count);
  });
  assertEquals(count, 1);
  assertEquals(w.size, 2);
  w.advance(5100, () => count++);
  assertEquals(count, 2);
  w.advance(200_000, (n) => assertEquals(n, b));
  assertEquals(w.size, 0);
});
