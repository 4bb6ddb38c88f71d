import fc from "fast-check";
import { copyBytes, readU16, readU32, writeU16, writeU32 } from "../../../stack/wire/bytes.ts";
import { assertEquals, hex, toHex } from "./_util.ts";

Deno.test("readU16/readU32 read big-endian, unsigned", () => {
  const b = hex("0102 fffe 80000001 ffffffff");
  assertEquals(readU16(b, 0), 0x0102);
  assertEquals(readU16(b, 2), 0xfffe);
  assertEquals(readU32(b, 4), 0x80000001);
  assertEquals(readU32(b, 8), 0xffffffff);
  assertEquals(readU32(b, 1), 0x02fffe80);
});

Deno.test("writeU16/writeU32 write big-endian and truncate to width", () => {
  const b = new Uint8Array(8);
  writeU16(b, 0, 0x1_abcd);
  writeU32(b, 2, -1);
  assertEquals(toHex(b), "abcdffffffff0000");
  writeU32(b, 4, 0xdeadbeef);
  assertEquals(toHex(b), "abcdffffdeadbeef");
});

Deno.test("property: write then read round-trips u16 and u32 at any offset", () => {
  fc.assert(
    fc.property(fc.nat(12), fc.nat(0xffff), fc.nat(0xffffffff), (off, v16, v32) => {
      const b = new Uint8Array(20);
      writeU16(b, off, v16);
      assertEquals(readU16(b, off), v16);
      writeU32(b, off + 2, v32);
      assertEquals(readU32(b, off + 2), v32);
    }),
  );
});

Deno.test("copyBytes copies short, long and overlapping ranges like copyWithin", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 600, size: "max" }),
      fc.nat(600),
      fc.nat(600),
      fc.nat(600),
      fc.boolean(),
      (data, a, b, n, sameBuffer) => {
        const len = data.length;
        const srcOff = len === 0 ? 0 : a % len;
        const dstOff = len === 0 ? 0 : b % len;
        const count = Math.min(n, len - srcOff, len - dstOff);
        const expected = data.slice();
        expected.copyWithin(dstOff, srcOff, srcOff + count);
        if (sameBuffer) {
          // Two different views over one memory: the overlap must still be handled.
          const mem = data.slice();
          copyBytes(new Uint8Array(mem.buffer), srcOff, new Uint8Array(mem.buffer), dstOff, count);
          assertEquals(mem, expected);
        } else {
          const dst = data.slice();
          copyBytes(data, srcOff, dst, dstOff, count);
          assertEquals(dst, expected);
        }
      },
    ),
  );
});
