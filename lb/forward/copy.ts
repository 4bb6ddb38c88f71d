/**
 * Copying a packet between two long-lived buffers without allocating: 32-bit words through
 * cached `Uint32Array` views when both ends are 4-byte aligned (the TAP and the memory device
 * place IP headers on 4-byte boundaries, and the tunnel's transmit buffer does too), else a byte
 * loop. `set` over a `subarray` would allocate a view per packet.
 *
 * @module
 */

/** Views over the last few buffers seen (a forwarder copies from one or two receive buffers). */
const SLOTS = 4;
const buffers: (ArrayBufferLike | null)[] = [null, null, null, null];
const views: (Uint32Array | null)[] = [null, null, null, null];
let next = 0;

/** A cached 32-bit view of `buf`'s memory, or null when words must not be used. */
function wordsOf(buf: Uint8Array): Uint32Array | null {
  const b = buf.buffer;
  for (let i = 0; i < SLOTS; i++) if (buffers[i] === b) return views[i];
  // A resizable buffer may shrink under a fixed view: such buffers take the byte loop.
  const v = (b as ArrayBuffer).resizable === true
    ? null
    : new Uint32Array(b, 0, b.byteLength >>> 2);
  buffers[next] = b;
  views[next] = v;
  next = (next + 1) % SLOTS;
  return v;
}

/** Copies `src[srcOff .. srcOff+len)` to `dst[dstOff ..)`; the two ranges must not overlap. */
export function copyPacket(
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
  len: number,
): void {
  const s = src.byteOffset + srcOff;
  const d = dst.byteOffset + dstOff;
  let done = 0;
  if (len >= 64 && (s & 3) === 0 && (d & 3) === 0) {
    const sw = wordsOf(src);
    const dw = sw === null ? null : wordsOf(dst);
    if (sw !== null && dw !== null) {
      const words = len >>> 2;
      const si = s >>> 2;
      const di = d >>> 2;
      for (let i = 0; i < words; i++) dw[di + i] = sw[si + i];
      done = words << 2;
    }
  }
  for (let i = done; i < len; i++) dst[dstOff + i] = src[srcOff + i];
}
