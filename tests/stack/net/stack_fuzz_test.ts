/**
 * Property: whatever bytes arrive, the receive path never throws, and every frame moves some
 * counter besides rx_frames (it was dropped by a reason, or handled and counted).
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { FakeClock } from "../../../stack/clock.ts";
import { Stack } from "../../../stack/net/stack.ts";
import {
  arp,
  CaptureDevice,
  checksum,
  concat,
  eth,
  icmpEcho,
  ip,
  ipv4,
  mac,
  udp,
} from "./_frames.ts";

const US = ip("10.0.0.1");
const PEER = ip("10.0.0.2");
const US_MAC = mac("02:00:00:00:00:01");
const PEER_MAC = mac("02:00:00:00:00:02");

function total(stack: Stack): number {
  let n = 0;
  for (const [k, v] of Object.entries(stack.counters.snapshot())) {
    if (k !== "rx_frames" && k !== "tx_frames") n += v;
  }
  return n;
}

/** Valid frames of every kind, then mutated: the interesting inputs are near-valid ones. */
const seeds: Uint8Array[] = [
  concat(eth(US_MAC, PEER_MAC, 0x0806), arp(1, PEER_MAC, PEER, new Uint8Array(6), US)),
  concat(
    eth(US_MAC, PEER_MAC, 0x0800),
    ipv4({ src: PEER, dst: US, protocol: 1 }, icmpEcho(8, 1, 1, new Uint8Array(16))),
  ),
  concat(
    eth(US_MAC, PEER_MAC, 0x0800),
    ipv4({ src: PEER, dst: US, protocol: 17 }, udp(PEER, US, 1, 7, new Uint8Array(9))),
  ),
  concat(
    eth(US_MAC, PEER_MAC, 0x0800),
    ipv4({ src: PEER, dst: US, protocol: 1, mf: true, id: 3 }, new Uint8Array(32)),
  ),
  concat(
    eth(US_MAC, PEER_MAC, 0x0800),
    ipv4({ src: PEER, dst: US, protocol: 1, offset: 32, id: 3 }, new Uint8Array(16)),
  ),
  concat(
    eth(US_MAC, PEER_MAC, 0x0800),
    ipv4({ src: PEER, dst: US, protocol: 6 }, new Uint8Array(20)),
  ),
];

const mutated = fc.tuple(
  fc.constantFrom(...seeds),
  fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  fc.integer({ min: 0, max: 80 }),
  fc.boolean(),
).map(([seed, edits, cut, fix]) => {
  const b = seed.slice(0, Math.max(0, seed.length - (cut > 60 ? cut - 60 : 0)));
  for (const [pos, val] of edits) if (b.length > 0) b[pos % b.length] = val;
  // Half the time, repair the IPv4 header checksum so the edits reach the layers above.
  const hl = (b[14] & 15) * 4;
  if (fix && b.length >= 14 + hl && hl >= 20 && b[12] === 8 && b[13] === 0) {
    b[24] = b[25] = 0;
    const c = checksum(b, 14, hl);
    b[24] = c >> 8;
    b[25] = c & 0xff;
  }
  return b;
});

const frame = fc.oneof(
  mutated,
  fc.uint8Array({ maxLength: 200 }),
  fc.uint8Array({ minLength: 14, maxLength: 120 }).map((b) => {
    b.set(US_MAC, 0); // to us, random rest
    return b;
  }),
);

Deno.test("fuzz: random and mutated frames never throw and are always counted", () => {
  const clock = new FakeClock();
  const stack = new Stack({
    device: new CaptureDevice(US_MAC),
    address: US,
    prefix: 24,
    clock,
    forwarding: true,
  });
  stack.hook = () => "pass";
  stack.registerProtocol(6, () => {});
  fc.assert(
    fc.property(fc.array(frame, { minLength: 1, maxLength: 20 }), (frames) => {
      for (const f of frames) {
        const before = total(stack);
        stack.input(f, 0, f.length); // not frameHandler: an exception must surface here
        assert.ok(total(stack) > before, `frame not counted: ${[...f].join(",")}`);
      }
      clock.advance(5_000);
      stack.tick();
    }),
    { numRuns: 1000 },
  );
  assert.equal(stack.counters.get("drop.internal_error"), 0);
  assert.equal(stack.counters.get("rx_frames") > 0, true);
});
