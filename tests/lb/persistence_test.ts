/** The persistence table alone: lookup, refresh, expiry on time and on sweep, forget, bound. */
import { assertEquals } from "../assert.ts";
import { PersistenceTable } from "../../lb/persistence.ts";
import { RealServer } from "../../lb/service.ts";
import { FakeClock } from "../../stack/clock.ts";

const A = new RealServer({ address: 0x0a00000b });
const B = new RealServer({ address: 0x0a00000c });

Deno.test("an entry lives for the timeout from its last remember()", () => {
  const clock = new FakeClock(1000);
  const t = new PersistenceTable(10_000, clock, 64);
  assertEquals(t.lookup(0xc0a80001), null);
  t.remember(0xc0a80001, A);
  t.remember(0xc0a80002, B);
  assertEquals(t.lookup(0xc0a80001), A);
  assertEquals(t.lookup(0xc0a80002), B);
  clock.advance(9_999);
  t.remember(0xc0a80001, A); // refresh
  clock.advance(1);
  assertEquals(t.lookup(0xc0a80002), null); // expired exactly at the timeout
  assertEquals(t.lookup(0xc0a80001), A);
  assertEquals(t.size, 1);
  t.expire();
  assertEquals(t.size, 1);
  clock.advance(10_000);
  t.expire();
  assertEquals(t.size, 0);
});

Deno.test("forget() drops the entries of a deleted server only", () => {
  const t = new PersistenceTable(10_000, new FakeClock(1), 64);
  for (let c = 1; c <= 10; c++) t.remember(c, c % 2 === 0 ? A : B);
  assertEquals(t.forget(A), 5);
  assertEquals(t.lookup(2), null);
  assertEquals(t.lookup(3), B);
  assertEquals(t.size, 5);
});

Deno.test("the table is bounded: more clients than slots evict, never grow", () => {
  const t = new PersistenceTable(10_000, new FakeClock(1), 16);
  for (let c = 1; c <= 1000; c++) t.remember(c * 7919, A);
  assertEquals(t.size, 16);
  assertEquals(t.evicted, 1000 - 16);
  // The newest client is always kept.
  assertEquals(t.lookup(1000 * 7919), A);
});
