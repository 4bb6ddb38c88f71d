/** HalfSipHash-2-4 against the reference test vectors (key 00..07, message 00..n-1). */
import { assertEquals } from "../../assert.ts";
import { hash0, hash1, hash2, hash3, hash4 } from "../../../stack/tcp/hash.ts";

const key = { k0: 0x03020100, k1: 0x07060504 };
const w = (i: number) =>
  ((4 * i) | ((4 * i + 1) << 8) | ((4 * i + 2) << 16) | ((4 * i + 3) << 24)) >>> 0;

Deno.test("reference vectors for 0, 4, 8, 12 and 16 bytes", () => {
  assertEquals(hash0(key), 0x5b9f35a9);
  assertEquals(hash1(key, w(0)), 0x89466e2a);
  assertEquals(hash2(key, w(0), w(1)), 0x8f84b8d0);
  assertEquals(hash3(key, w(0), w(1), w(2)), 0x2f87f057);
  assertEquals(hash4(key, w(0), w(1), w(2), w(3)), 0x84acb5d9);
});
