/**
 * MurmurHash3 (x86, 32-bit) over 32-bit words: a fixed, seedable, well-mixed hash computed with
 * integer arithmetic only. The hashing schedulers (sh, mh) use fixed seeds so every instance,
 * and every restart, maps the same client to the same server.
 *
 * @module
 */

/** Mixes one 32-bit word into the running hash `h` (one MurmurHash3 body round). */
export function murmurRound(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** Finishes a hash over `byteLength` bytes (MurmurHash3 fmix32); returns a u32. */
export function murmurFinish(h: number, byteLength: number): number {
  h ^= byteLength;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** MurmurHash3_x86_32 of the 8 bytes (a, b) as two little-endian u32 words, with `seed`. */
export function hash2(a: number, b: number, seed: number): number {
  return murmurFinish(murmurRound(murmurRound(seed | 0, a), b), 8);
}
