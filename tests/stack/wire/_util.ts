/**
 * Shared helpers for the stack/wire tests: assertions, hex conversion and the "no accessor reads outside the
 * view" probe used by the property tests.
 *
 * @module
 */

import { deepStrictEqual, ok } from "node:assert/strict";

/** Deep strict equality (typed arrays by content); throws with `msg` on a difference. */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  deepStrictEqual(actual, expected, msg);
}

/** Throws unless `cond` is truthy. */
export function assert(cond: unknown, msg?: string): asserts cond {
  ok(cond, msg);
}

/** Bytes from a hex string (whitespace ignored). */
export function hex(text: string): Uint8Array {
  const s = text.replace(/\s+/g, "");
  if (s.length % 2 !== 0) throw new Error("odd hex length");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Lowercase hex of `buf[off .. off+len)`. */
export function toHex(buf: Uint8Array, off = 0, len = buf.length - off): string {
  let s = "";
  for (let i = off; i < off + len; i++) s += buf[i].toString(16).padStart(2, "0");
  return s;
}

/** The part of a view the probe needs. */
export interface Checkable {
  wrap(buf: Uint8Array, off: number, len: number): unknown;
  check(): string | null;
}

/**
 * Wraps `bytes` three ways: alone in an exact-size buffer, and at offset 5 of a larger buffer
 * padded with 0x00 and with 0xff. check() must not throw and must agree across the three; when
 * it returns null, `read` (every accessor) must not throw and must give the same values, so no
 * accessor read a byte outside the view. Returns the check() result.
 */
export function probeView<V extends Checkable>(
  make: () => V,
  read: (v: V) => unknown[],
  bytes: Uint8Array,
): string | null {
  const exact = make();
  exact.wrap(bytes.slice(), 0, bytes.length);
  const results: (string | null)[] = [];
  const snapshots: unknown[][] = [];
  for (const fill of [0x00, 0xff]) {
    const buf = new Uint8Array(bytes.length + 10).fill(fill);
    buf.set(bytes, 5);
    const v = make();
    v.wrap(buf, 5, bytes.length);
    const r = v.check();
    results.push(r);
    if (r === null) snapshots.push(read(v));
  }
  const r = exact.check();
  assertEquals(results[0], r);
  assertEquals(results[1], r);
  if (r === null) {
    assertEquals(snapshots[0], snapshots[1]);
    assertEquals(read(exact), snapshots[0]);
  }
  return r;
}
