/**
 * 32-bit TCP sequence number arithmetic with wrap-around (RFC 9293 3.4: "all arithmetic dealing
 * with sequence numbers must be performed modulo 2**32"). Comparisons take the signed distance, so
 * they hold for numbers less than 2^31 apart, like Linux's before()/after().
 *
 * @module
 */

/** `a + n` modulo 2^32 (u32; `n` may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance `a - b` in -2^31 .. 2^31-1. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

/** `a` comes before `b`. */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

/** `a` comes before or equals `b`. */
export function seqLeq(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

/** `a` comes after `b`. */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

/** `a` comes after or equals `b`. */
export function seqGeq(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

/**
 * `start <= x < start + len` modulo 2^32 (RFC 9293 3.4), for len 0 .. 2^32-1; false when len is 0
 * (the zero-window cases of the acceptability test are the caller's).
 */
export function seqInWindow(x: number, start: number, len: number): boolean {
  return ((x - start) >>> 0) < len;
}
