/**
 * Copying a segment's payload from the device's frame buffer into a receive ring without
 * allocating: a `subarray` per segment would allocate, and a byte loop moves only about two
 * bytes per nanosecond. When source and destination have the same alignment modulo 4 (the usual
 * case: frames are read at an offset that aligns the IP header, and full-sized payloads keep
 * the ring aligned), the middle is copied as 32-bit words through `Uint32Array` views made once
 * per buffer; the rest byte by byte.
 *
 * @module
 */

/** A reusable cache of a 32-bit view over the last source buffer seen. */
export class WordCopier {
  #srcBuffer: ArrayBufferLike | null = null;
  #src32: Uint32Array = new Uint32Array(0);

  /**
   * Copies `n` bytes from `src[s..)` to `dst[d..)`; `dst32` is a Uint32Array over `dst`'s
   * whole ArrayBuffer (offset 0). The ranges must not overlap.
   */
  copy(
    dst: Uint8Array,
    dst32: Uint32Array,
    d: number,
    src: Uint8Array,
    s: number,
    n: number,
  ): void {
    const dAbs = dst.byteOffset + d;
    const sAbs = src.byteOffset + s;
    if (n >= 64 && ((dAbs ^ sAbs) & 3) === 0) {
      // Bytes up to the first 4-byte boundary.
      let lead = (4 - (sAbs & 3)) & 3;
      n -= lead;
      while (lead-- > 0) dst[d++] = src[s++];
      const buf = src.buffer;
      if (buf !== this.#srcBuffer) {
        this.#srcBuffer = buf;
        this.#src32 = new Uint32Array(buf, 0, buf.byteLength >>> 2);
      }
      const s32 = this.#src32;
      let wi = (dst.byteOffset + d) >>> 2;
      let ri = (src.byteOffset + s) >>> 2;
      const words = n >>> 2;
      const end = ri + words;
      while (ri + 4 <= end) {
        dst32[wi] = s32[ri];
        dst32[wi + 1] = s32[ri + 1];
        dst32[wi + 2] = s32[ri + 2];
        dst32[wi + 3] = s32[ri + 3];
        wi += 4;
        ri += 4;
      }
      while (ri < end) dst32[wi++] = s32[ri++];
      d += words << 2;
      s += words << 2;
      n &= 3;
    }
    while (n >= 8) {
      dst[d] = src[s];
      dst[d + 1] = src[s + 1];
      dst[d + 2] = src[s + 2];
      dst[d + 3] = src[s + 3];
      dst[d + 4] = src[s + 4];
      dst[d + 5] = src[s + 5];
      dst[d + 6] = src[s + 6];
      dst[d + 7] = src[s + 7];
      d += 8;
      s += 8;
      n -= 8;
    }
    while (n-- > 0) dst[d++] = src[s++];
  }
}
