import fc from "fast-check";
import {
  seqAdd,
  seqDiff,
  seqGeq,
  seqGt,
  seqInWindow,
  seqLeq,
  seqLt,
} from "../../../stack/wire/seq.ts";
import { assert, assertEquals } from "./_util.ts";

Deno.test("sequence arithmetic wraps at 2^32 (RFC 9293 3.4)", () => {
  assertEquals(seqAdd(0xffffffff, 1), 0);
  assertEquals(seqAdd(0xfffffff0, 0x20), 0x10);
  assertEquals(seqAdd(5, -10), 0xfffffffb);
  assertEquals(seqDiff(0x10, 0xfffffff0), 0x20);
  assertEquals(seqDiff(0xfffffff0, 0x10), -0x20);
  assert(seqLt(0xfffffff0, 0x10));
  assert(seqGt(0x10, 0xfffffff0));
  assert(seqLeq(7, 7) && seqGeq(7, 7) && !seqLt(7, 7) && !seqGt(7, 7));
  assert(seqInWindow(0x5, 0xfffffffe, 8));
  assert(!seqInWindow(0x6, 0xfffffffe, 8));
  assert(seqInWindow(0xfffffffe, 0xfffffffe, 1));
  assert(!seqInWindow(0xfffffffd, 0xfffffffe, 8));
  assert(!seqInWindow(3, 3, 0));
  assert(seqInWindow(1, 3, 0xffffffff) && !seqInWindow(2, 3, 0xffffffff));
});

Deno.test("property: distances below 2^31 order correctly from any start", () => {
  fc.assert(
    fc.property(fc.nat(0xffffffff), fc.integer({ min: 1, max: 0x7fffffff }), (a, n) => {
      const b = seqAdd(a, n);
      assert(b >= 0 && b <= 0xffffffff);
      assert(seqLt(a, b) && seqLeq(a, b) && seqGt(b, a) && seqGeq(b, a));
      assert(!seqLt(b, a) && !seqGeq(a, b));
      assertEquals(seqDiff(b, a), n);
      assertEquals(seqDiff(a, b), -n);
      assertEquals(seqAdd(b, -n), a);
      assert(seqInWindow(seqAdd(a, n - 1), a, n));
      assert(!seqInWindow(b, a, n));
      assert(!seqInWindow(seqAdd(a, -1), a, n));
    }),
    { numRuns: 2000 },
  );
});
