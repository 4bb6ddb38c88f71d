/**
 * Copying a byte range between buffers without allocating (private to stack/link).
 *
 * @module
 */

/** Below this length a byte loop beats creating a `subarray` view for `set()` (a memcpy). */
const LOOP_MAX = 64;

/**
 * Copies `src[srcOff .. srcOff+len)` to `dst[dstOff ..)`. Short ranges are copied byte by byte;
 * longer ones through `set()`, which needs one short-lived `subarray` view unless the whole of
 * `src` is copied (a memcpy of a full frame outweighs that allocation by far).
 */
export function copyBytes(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  len: number,
): void {
  if (len <= LOOP_MAX) {
    for (let i = 0; i < len; i++) dst[dstOff + i] = src[srcOff + i];
  } else if (srcOff === 0 && len === src.length) {
    dst.set(src, dstOff);
  } else {
    dst.set(src.subarray(srcOff, srcOff + len), dstOff);
  }
}
