/**
 * The Internet checksum (RFC 1071), the TCP/UDP pseudo-header sum (RFC 9293 3.1, RFC 768), and
 * incremental updates (RFC 1624) for rewriting an address or port without summing the packet again.
 *
 * Sums are plain `number`s: one's complement partial sums kept unfolded (an integer below 2^53),
 * which can be added together and passed on as `acc`; `foldChecksum` turns one into the field.
 *
 * @module
 */

/** True on little-endian hosts, where a `Uint32Array` word holds the bytes in reverse order. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Below this length the byte loop wins over setting up the word loop. */
const WORD_LOOP_MIN = 64;

/** Words summed between folds: 16384 halves of at most 0xffff stay below 2^30 (a V8 Smi). */
const WORDS_PER_CHUNK = 16384;

/**
 * 32-bit views over the last few backing buffers seen, so the word loop allocates nothing per
 * packet: a stack sums in a handful of long-lived buffers (the device's receive buffer, its
 * transmit buffers), and a receive path that alternates between two of them must not make a new
 * view each time. Replacement is round robin; the cache keeps at most four buffers alive.
 */
const CACHE_SLOTS = 4;
const cachedBuffers: (ArrayBufferLike | null)[] = [null, null, null, null];
const cachedWords: (Uint32Array | null)[] = [null, null, null, null];
let nextSlot = 0;

/** The cached 32-bit view of `buf`'s memory, or null when the word loop must not be used. */
function wordsOf(buf: Uint8Array): Uint32Array | null {
  const buffer = buf.buffer;
  for (let i = 0; i < CACHE_SLOTS; i++) {
    if (cachedBuffers[i] === buffer) return cachedWords[i];
  }
  // A resizable ArrayBuffer may shrink under a fixed-length view, whose reads would then give
  // undefined: such buffers take the byte loop.
  const resizable = (buffer as ArrayBuffer).resizable === true;
  const words = resizable ? null : new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  cachedBuffers[nextSlot] = buffer;
  cachedWords[nextSlot] = words;
  nextSlot = (nextSlot + 1) % CACHE_SLOTS;
  return words;
}

/** Folds a non-negative integer below 2^53 to 16 bits by end-around carry (RFC 1071 4.1). */
function fold16(sum: number): number {
  while (sum > 0xffff) {
    const lo = sum & 0xffff; // ToInt32 is taken modulo 2^32, so the low 16 bits are exact.
    sum = lo + (sum - lo) / 65536;
  }
  return sum;
}

/** Swaps the two bytes of a 16-bit value: multiplication by 256 modulo 0xffff (RFC 1071 2(B)). */
function swap16(v: number): number {
  return ((v >>> 8) | (v << 8)) & 0xffff;
}

/** RFC 1071 sum of big-endian 16-bit words, byte by byte; an odd last byte is padded with zero. */
function sumBytes(buf: Uint8Array, off: number, len: number): number {
  let sum = 0;
  const last = off + len - 1;
  let i = off;
  for (; i < last; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  if (i === last) sum += buf[i] << 8;
  return sum;
}

/**
 * Sum of the little-endian 32-bit words `words[from..to)`, folded to 16 bits. Each word is split
 * into its 16-bit halves, summed in two accumulators: they stay small integers (Smis) for a chunk
 * of WORDS_PER_CHUNK words, which V8 adds fastest (measured here: ~170 ns for 1500 bytes, against
 * ~270 ns summing whole words as doubles and ~890 ns byte by byte).
 */
function sumWordsLe(words: Uint32Array, from: number, to: number): number {
  let total = 0;
  while (from < to) {
    const stop = to - from > WORDS_PER_CHUNK ? from + WORDS_PER_CHUNK : to;
    let lo = 0;
    let hi = 0;
    for (let i = from; i < stop; i++) {
      const w = words[i];
      lo += w & 0xffff;
      hi += w >>> 16;
    }
    total = fold16(total + lo + hi);
    from = stop;
  }
  return total;
}

/**
 * RFC 1071 one's complement sum of the 16-bit big-endian words of `buf[off .. off+len)`, added to
 * `acc`. An odd length is padded with a zero byte (RFC 1071 section 1); any offset works, and no
 * byte outside the range is read. The result is unfolded (a non-negative integer well below 2^53
 * when `acc` is), congruent to the true sum modulo 0xffff and zero only when the true sum is.
 *
 * Long ranges are summed 4 bytes at a time through a `Uint32Array` over the same memory: on a
 * little-endian host that sums byte-swapped words, and byte order only permutes the bytes of the
 * sum (RFC 1071 section 2(B)), so one swap at the end restores it.
 */
export function sumWords(buf: Uint8Array, off: number, len: number, acc = 0): number {
  if (len < WORD_LOOP_MIN || !LITTLE_ENDIAN) return acc + sumBytes(buf, off, len);
  const words = wordsOf(buf);
  if (words === null) return acc + sumBytes(buf, off, len);
  // Bytes before the first 4-byte aligned address, summed as words starting at `off`.
  const lead = (4 - ((buf.byteOffset + off) & 3)) & 3;
  const head = sumBytes(buf, off, lead);
  const from = (buf.byteOffset + off + lead) >>> 2;
  const count = (len - lead) >>> 2;
  const tailOff = off + lead + count * 4;
  // Sum in the frame of the aligned start: the swapped word sum plus the trailing bytes.
  let rest = swap16(sumWordsLe(words, from, from + count)) +
    sumBytes(buf, tailOff, off + len - tailOff);
  // An odd lead puts the aligned start on the low byte of a packet word: swap once more.
  if ((lead & 1) === 1) rest = swap16(fold16(rest));
  return acc + head + rest;
}

/**
 * Folds an unfolded sum to 16 bits and complements it: the value for a checksum field (0..0xffff).
 * A range whose sum is zero (all zero bytes) gives 0xffff.
 */
export function foldChecksum(sum: number): number {
  return ~fold16(sum) & 0xffff;
}

/**
 * The Internet checksum of `buf[off .. off+len)` plus `acc` (e.g. a pseudo-header sum). Computed
 * over a range that includes a correct checksum field, it is 0 (RFC 1071 section 1 (4)).
 */
export function internetChecksum(buf: Uint8Array, off: number, len: number, acc = 0): number {
  return foldChecksum(sumWords(buf, off, len, acc));
}

/**
 * The unfolded sum of the TCP/UDP IPv4 pseudo-header (RFC 9293 3.1, RFC 768): source and
 * destination address, zero, protocol, and the TCP/UDP length. Pass it as `acc`.
 */
export function pseudoHeaderSum(
  src: number,
  dst: number,
  protocol: number,
  length: number,
): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * The unfolded sum of the IPv6 pseudo-header (RFC 8200 8.1) for TCP, UDP and ICMPv6: the source
 * and destination addresses at `buf[srcOff ..+16)` and `buf[dstOff ..+16)`, the upper-layer
 * length (32 bits) and the next header value. Pass it as `acc`.
 */
export function pseudoHeaderSum6(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  nextHeader: number,
  length: number,
): number {
  return sumBytes(buf, srcOff, 16) + sumBytes(buf, dstOff, 16) + (length >>> 16) +
    (length & 0xffff) + nextHeader;
}

/**
 * The checksum after one 16-bit word of the covered data changed from `oldWord` to `newWord`, by
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never yields 0xffff for a checksum
 * that full recomputation gives as 0x0000 (RFC 1624 section 3). It equals full recomputation
 * whenever the new data is not all zero, which holds for every IPv4 header and every TCP/UDP
 * segment (the pseudo-header carries a non-zero protocol).
 */
export function checksumAdjust16(check: number, oldWord: number, newWord: number): number {
  const sum = (~check & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold16(sum) & 0xffff;
}

/**
 * `checksumAdjust16` for a 32-bit field (an IPv4 address, a sequence number): both of its 16-bit
 * words change at once (RFC 1624 eqn. 3).
 */
export function checksumAdjust32(check: number, oldValue: number, newValue: number): number {
  const sum = (~check & 0xffff) + (~(oldValue >>> 16) & 0xffff) + (~oldValue & 0xffff) +
    (newValue >>> 16) + (newValue & 0xffff);
  return ~fold16(sum) & 0xffff;
}
