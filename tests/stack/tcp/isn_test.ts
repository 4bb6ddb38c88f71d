/** RFC 6528 ISNs: a 4 us clock plus a keyed hash of the tuple. */
import { assert, assertEquals } from "../../assert.ts";
import { IsnGenerator } from "../../../stack/tcp/isn.ts";

Deno.test("ISNs grow with the clock (250 per ms) for one tuple and differ between tuples", () => {
  const g = new IsnGenerator({ k0: 1, k1: 2 }, { k0: 3, k1: 4 });
  const a0 = g.isn(1, 2, 3, 4, 1000);
  const a1 = g.isn(1, 2, 3, 4, 1001);
  assertEquals((a1 - a0) >>> 0, 250);
  const b0 = g.isn(1, 2, 3, 5, 1000);
  assert(a0 !== b0);
  const other = new IsnGenerator({ k0: 9, k1: 9 }, { k0: 3, k1: 4 });
  assert(other.isn(1, 2, 3, 4, 1000) !== a0, "the key matters");
  assert(g.tsOffset(1, 2, 3, 4) !== g.tsOffset(1, 2, 3, 5));
});
