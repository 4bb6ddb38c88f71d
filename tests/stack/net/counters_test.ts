import assert from "node:assert/strict";
import { Counters } from "../../../stack/net/counters.ts";

Deno.test("Counters count, sum by prefix, snapshot sorted, reset", () => {
  const c = new Counters();
  assert.equal(c.get("rx_frames"), 0);
  c.count("rx_frames");
  c.count("rx_frames", 4);
  c.count("drop.ipv4_bad_checksum");
  c.count("drop.eth_truncated", 2);
  assert.equal(c.get("rx_frames"), 5);
  assert.equal(c.sum("drop."), 3);
  assert.deepEqual(Object.keys(c.snapshot()), [
    "drop.eth_truncated",
    "drop.ipv4_bad_checksum",
    "rx_frames",
  ]);
  assert.deepEqual(c.snapshot(), {
    "drop.eth_truncated": 2,
    "drop.ipv4_bad_checksum": 1,
    "rx_frames": 5,
  });
  c.reset();
  assert.deepEqual(c.snapshot(), {});
});

Deno.test("Counters.drop prefixes the reason", () => {
  const c = new Counters();
  c.drop("ipv4_truncated");
  c.drop("ipv4_truncated");
  assert.equal(c.get("drop.ipv4_truncated"), 2);
  assert.equal(c.sum("drop."), 2);
});

Deno.test("Counters slots: add() counts the named counter; listed only once counted", () => {
  const c = new Counters();
  const s = c.slot("tx_frames");
  assert.equal(c.slot("tx_frames"), s, "one slot per name");
  assert.deepEqual(c.snapshot(), {}, "a slot that was never counted is not listed");
  assert.equal(c.get("tx_frames"), 0);
  c.add(s);
  c.add(s, 2);
  c.count("tx_frames");
  assert.equal(c.get("tx_frames"), 4);
  assert.deepEqual(c.snapshot(), { tx_frames: 4 });
  // reset: values and listing go, the slot stays valid.
  c.reset();
  assert.deepEqual(c.snapshot(), {});
  c.add(s);
  assert.deepEqual(c.snapshot(), { tx_frames: 1 });
});

Deno.test("Counters: alternating names, drops and many names keep their own values", () => {
  const c = new Counters();
  // count() remembers the last name it saw: alternation must not mix values up.
  for (let i = 0; i < 10; i++) {
    c.count("a");
    c.count("b", 2);
    c.drop("x");
    c.count("a");
  }
  assert.equal(c.get("a"), 20);
  assert.equal(c.get("b"), 20);
  assert.equal(c.get("drop.x"), 10);
  // Beyond the initial 64 slots the storage grows and earlier slots keep their values.
  const early = c.slot("early");
  c.add(early, 7);
  for (let i = 0; i < 200; i++) c.count(`n${i}`, i);
  c.add(early);
  assert.equal(c.get("early"), 8);
  assert.equal(c.get("n199"), 199);
  assert.equal(c.sum("n"), (199 * 200) / 2);
  assert.equal(Object.keys(c.snapshot()).length, 3 + 1 + 200, "n0, counted with 0, is listed");
});
