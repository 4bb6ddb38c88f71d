/**
 * HalfSipHash-2-4 with a 32-bit output (Aumasson and Bernstein; the `hsiphash` Linux uses for
 * keyed hashes of connection tuples): a keyed PRF over a few 32-bit words. TCP uses it for
 * initial sequence numbers (RFC 6528), SYN cookies (RFC 4987), ephemeral port offsets
 * (RFC 6056) and the connection table, so a peer cannot predict any of them.
 *
 * Inputs are whole 32-bit words, read as the little-endian byte string of the reference
 * implementation, so the reference test vectors apply to 0, 4, 8, ... byte messages.
 *
 * @module
 */

/** A 64-bit HalfSipHash key as two 32-bit words. */
export interface HashKey {
  /** Key bytes 0..3, little-endian. */
  readonly k0: number;
  /** Key bytes 4..7, little-endian. */
  readonly k1: number;
}

/** A fresh random key from the platform's CSPRNG. */
export function randomHashKey(): HashKey {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return { k0: w[0], k1: w[1] };
}

// The state lives in module variables, so hashing allocates nothing (single-threaded).
let v0 = 0;
let v1 = 0;
let v2 = 0;
let v3 = 0;

function rounds(n: number): void {
  for (let i = 0; i < n; i++) {
    v0 = (v0 + v1) | 0;
    v1 = (v1 << 5) | (v1 >>> 27);
    v1 ^= v0;
    v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0;
    v3 = (v3 << 8) | (v3 >>> 24);
    v3 ^= v2;
    v0 = (v0 + v3) | 0;
    v3 = (v3 << 7) | (v3 >>> 25);
    v3 ^= v0;
    v2 = (v2 + v1) | 0;
    v1 = (v1 << 13) | (v1 >>> 19);
    v1 ^= v2;
    v2 = (v2 << 16) | (v2 >>> 16);
  }
}

function init(key: HashKey): void {
  v0 = key.k0 | 0;
  v1 = key.k1 | 0;
  v2 = 0x6c796765 ^ key.k0;
  v3 = 0x74656462 ^ key.k1;
}

function absorb(m: number): void {
  v3 ^= m;
  rounds(2);
  v0 ^= m;
}

function finish(bytes: number): number {
  const b = (bytes << 24) | 0;
  v3 ^= b;
  rounds(2);
  v0 ^= b;
  v2 ^= 0xff;
  rounds(4);
  return (v1 ^ v3) >>> 0;
}

/** HalfSipHash-2-4 of the empty message. */
export function hash0(key: HashKey): number {
  init(key);
  return finish(0);
}

/** HalfSipHash-2-4 of one word (4 bytes). */
export function hash1(key: HashKey, a: number): number {
  init(key);
  absorb(a);
  return finish(4);
}

/** HalfSipHash-2-4 of two words (8 bytes). */
export function hash2(key: HashKey, a: number, b: number): number {
  init(key);
  absorb(a);
  absorb(b);
  return finish(8);
}

/** HalfSipHash-2-4 of three words (12 bytes): e.g. two addresses and a port pair. */
export function hash3(key: HashKey, a: number, b: number, c: number): number {
  init(key);
  absorb(a);
  absorb(b);
  absorb(c);
  return finish(12);
}

/** HalfSipHash-2-4 of four words (16 bytes). */
export function hash4(key: HashKey, a: number, b: number, c: number, d: number): number {
  init(key);
  absorb(a);
  absorb(b);
  absorb(c);
  absorb(d);
  return finish(16);
}
