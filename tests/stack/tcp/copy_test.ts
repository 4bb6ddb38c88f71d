/**
 * The receive path's copier (stack/tcp/copy.ts): exact copies at every alignment and size, and
 * large copies (super-frames) through the native copy with a source view cached per range.
 */
import fc from "fast-check";
import { assertEquals } from "../../assert.ts";
import { NATIVE_COPY_MIN, WordCopier } from "../../../stack/tcp/copy.ts";

function fresh(n: number): [Uint8Array, Uint32Array] {
  const buf = new ArrayBuffer(n);
  return [new Uint8Array(buf), new Uint32Array(buf)];
}

Deno.test("property: copies are exact at any offsets and lengths, small and large", () => {
  const src = new Uint8Array(70_000).map((_, i) => (i * 13 + 5) & 0xff);
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 4000 }),
      fc.integer({ min: 0, max: 4000 }),
      fc.integer({ min: 0, max: 65_000 }),
      (s, d, n) => {
        const [dst, dst32] = fresh(70_000);
        new WordCopier().copy(dst, dst32, d, src, s, n);
        assertEquals(dst.subarray(d, d + n), src.subarray(s, s + n));
        assertEquals(dst[d + n] ?? 0, 0, "nothing written past the end");
        if (d > 0) assertEquals(dst[d - 1], 0, "nothing written before the start");
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("a repeated large range reuses its cached view; small copies never make one", () => {
  const c = new WordCopier();
  const src = new Uint8Array(80_000).map((_, i) => i & 0xff);
  const [dst, dst32] = fresh(200_000);
  // Super-frames read into one device buffer: same offset, same length, new bytes each time.
  for (let i = 0; i < 10; i++) {
    src.fill(i, 66, 66 + 65160);
    c.copy(dst, dst32, i * 1000, src, 66, 65160);
    assertEquals(dst[i * 1000], i);
    assertEquals(dst[i * 1000 + 65159], i);
  }
  assertEquals([c.viewMisses, c.viewHits], [1, 9]);
  c.copy(dst, dst32, 0, src, 66, 30_000); // another length: a new view
  assertEquals([c.viewMisses, c.viewHits], [2, 9]);
  c.copy(dst, dst32, 0, src, 66, NATIVE_COPY_MIN - 1);
  c.copy(dst, dst32, 0, src, 66, 1448);
  assertEquals([c.viewMisses, c.viewHits], [2, 9], "below NATIVE_COPY_MIN: the word loop");
});
