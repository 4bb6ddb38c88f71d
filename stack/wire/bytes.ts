/**
 * Big-endian (network byte order, RFC 791 appendix B) reads and writes on a `Uint8Array`, by
 * plain byte arithmetic: cheaper than a `DataView` per packet and allocation free.
 *
 * @module
 */

/** Reads the unsigned 16-bit big-endian value at `buf[off]`. */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** Writes the low 16 bits of `v` big-endian at `buf[off]`. */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 8;
  buf[off + 1] = v;
}

/** Reads the unsigned 32-bit big-endian value at `buf[off]` (0..2^32-1, never negative). */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Writes the low 32 bits of `v` big-endian at `buf[off]` (signed or unsigned input alike). */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

/**
 * Copies `len` bytes from `src[srcOff..)` to `dst[dstOff..)`; overlapping ranges are handled.
 * Within one array it uses `copyWithin` (no allocation). Between arrays, short copies use a byte
 * loop, which allocates nothing; long ones (>= 128 bytes) and views sharing memory use `set` over
 * a `subarray`, whose one small allocation costs less than the byte loop it replaces (and `set`
 * is specified to be overlap safe).
 */
export function copyBytes(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  len: number,
): void {
  if (src === dst) {
    if (srcOff !== dstOff) dst.copyWithin(dstOff, srcOff, srcOff + len);
    return;
  }
  if (len < 128 && src.buffer !== dst.buffer) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
    return;
  }
  dst.set(src.subarray(srcOff, srcOff + len), dstOff);
}
