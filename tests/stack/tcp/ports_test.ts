/** RFC 6056 algorithm 4 ephemeral ports. */
import { assert, assertEquals } from "../../assert.ts";
import { PortAllocator } from "../../../stack/tcp/ports.ts";

Deno.test("ports stay in range, skip unusable ones, and cycle through the whole range", () => {
  const a = new PortAllocator(50000, 50009);
  const seen = new Set<number>();
  for (let i = 0; i < 10; i++) {
    const p = a.pick(1, 2, 80, (x) => !seen.has(x));
    assert(p >= 50000 && p <= 50009);
    seen.add(p);
  }
  assertEquals(seen.size, 10);
  assertEquals(a.pick(1, 2, 80, () => false), -1, "every port tried");
});

Deno.test("toward one destination the sequence is consecutive; others start elsewhere", () => {
  const a = new PortAllocator(32768, 60999, { k0: 1, k1: 2 }, { k0: 3, k1: 4 });
  const p1 = a.pick(1, 2, 80, () => true);
  const p2 = a.pick(1, 2, 80, () => true);
  assertEquals(p2 - p1 === 1 || (p1 === 60999 && p2 === 32768), true);
  const q = a.pick(1, 3, 80, () => true);
  assert(Math.abs(q - p2) > 1, "another destination, another offset (with overwhelming odds)");
});
