import { assertEquals } from "../../assert.ts";
import { hash2 } from "../../../lb/scheduler/hash.ts";

/** A plain byte-wise MurmurHash3_x86_32, checked below against published vectors. */
function murmur3(bytes: Uint8Array, seed: number): number {
  let h = seed >>> 0;
  const nblocks = bytes.length >> 2;
  for (let i = 0; i < nblocks; i++) {
    let k = bytes[i * 4] | (bytes[i * 4 + 1] << 8) | (bytes[i * 4 + 2] << 16) |
      (bytes[i * 4 + 3] << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, 0x1b873593);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = nblocks * 4;
  switch (bytes.length & 3) {
    case 3:
      k ^= bytes[tail + 2] << 16;
    // falls through
    case 2:
      k ^= bytes[tail + 1] << 8;
    // falls through
    case 1:
      k ^= bytes[tail];
      k = Math.imul(k, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h ^= k;
  }
  h ^= bytes.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const text = (s: string) => new TextEncoder().encode(s);

Deno.test("murmur3 reference matches published MurmurHash3_x86_32 vectors", () => {
  assertEquals(murmur3(new Uint8Array(0), 0), 0);
  assertEquals(murmur3(new Uint8Array(0), 1), 0x514e28b7);
  assertEquals(murmur3(new Uint8Array(0), 0xffffffff), 0x81f16f39);
  assertEquals(murmur3(new Uint8Array(4), 0), 0x2362f9de);
  assertEquals(murmur3(text("aaaa"), 0x9747b28c), 0x5a97808a);
  assertEquals(murmur3(text("Hello, world!"), 0x9747b28c), 0x24884cba);
});

Deno.test("hash2 is MurmurHash3_x86_32 of two little-endian u32 words", () => {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  const cases: [number, number, number][] = [
    [0, 0, 0],
    [0xc0a80001, 443, 0x4d41474c],
    [0xffffffff, 0xffff, 0x12345678],
    [0x0a000002, 0, 0xdeadbeef],
  ];
  for (const [a, b, seed] of cases) {
    view.setUint32(0, a, true);
    view.setUint32(4, b, true);
    assertEquals(hash2(a, b, seed), murmur3(bytes, seed));
  }
});
