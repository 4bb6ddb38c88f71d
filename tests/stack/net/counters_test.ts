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
