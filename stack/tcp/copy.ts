/**
 * Copying a segment's payload from the device's frame buffer into a receive ring without
 * allocating: a `subarray` per segment would allocate, and a byte loop moves only about two
 * bytes per nanosecond. When source and destination have the same alignment modulo 4 (the usual
 * case: frames are read at an offset that aligns the IP header, and full-sized payloads keep
 * the ring aligned), the middle is copied as 32-bit words through `Uint32Array` views made once
 * per buffer; the rest byte by byte.
 *
 * A super-frame's payload (up to 64 KB, a TAP with offloads) goes through the native
 * `Uint8Array.set`, several times faster than the word loop at that size; the source view it needs
 * is cached by (array, offset, length), which a stream of super-frames read into one device
 * buffer repeats (the payload starts at the same offset and is mostly the same 45 MSS), so such a
 * copy allocates only on a cache miss (measured: 1 to 4% of the super-frames of a bulk transfer).
 *
 * @module
 */

/** Copies at least this long go through the native `set` with a cached source view. */
export const NATIVE_COPY_MIN = 8192;

/** Source views kept for large copies (replaced round-robin). */
const VIEW_CACHE = 4;

/** A reusable cache of a 32-bit view over the last source buffer seen. */
export class WordCopier {
  #srcBuffer: ArrayBufferLike | null = null;
  #src32: Uint32Array = new Uint32Array(0);
  /** Large copies: source array, offset and length of each cached view, and the views. */
  readonly #viewSrc: (Uint8Array | null)[] = new Array(VIEW_CACHE).fill(null);
  readonly #viewOff = new Float64Array(VIEW_CACHE);
  readonly #viewLen = new Float64Array(VIEW_CACHE);
  readonly #views: (Uint8Array | null)[] = new Array(VIEW_CACHE).fill(null);
  #viewNext = 0;
  /** Large copies whose source view had to be made (a cache miss). */
  viewMisses = 0;
  /** Large copies done with a cached view. */
  viewHits = 0;

  /**
   * A view of `src[s .. s+n)`, from the cache when the same range was copied before (a stream
   * of super-frames read into one buffer repeats the same offset and length), else made and
   * cached.
   */
  #view(src: Uint8Array, s: number, n: number): Uint8Array {
    for (let i = 0; i < VIEW_CACHE; i++) {
      if (this.#viewSrc[i] === src && this.#viewOff[i] === s && this.#viewLen[i] === n) {
        this.viewHits++;
        return this.#views[i]!;
      }
    }
    this.viewMisses++;
    const v = src.subarray(s, s + n);
    const k = this.#viewNext;
    this.#viewNext = k + 1 === VIEW_CACHE ? 0 : k + 1;
    this.#viewSrc[k] = src;
    this.#viewOff[k] = s;
    this.#viewLen[k] = n;
    this.#views[k] = v;
    return v;
  }

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
    if (n >= NATIVE_COPY_MIN) {
      dst.set(this.#view(src, s, n), d);
      return;
    }
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
