/**
 * The transmission record (sent_segments.ts) and RACK's use of it under random operations: sends
 * and retransmissions, SACK blocks anywhere (also bogus ones), cumulative ACKs, timeouts and loss
 * detection. After every step the records still tile [SND.UNA, SND.MAX) in order, and the byte
 * totals (SACKed, lost, retransmitted, pending) equal what the flags say.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import { Rack } from "../../../stack/tcp/rack.ts";
import {
  SEG_LOST,
  SEG_RETRANS,
  SEG_SACKED,
  SentSegments,
} from "../../../stack/tcp/sent_segments.ts";

/** Recomputes the totals from the flags and checks the tiling. */
function check(segs: SentSegments, una: number, max: number): void {
  let sacked = 0, lost = 0, retrans = 0, pending = 0;
  let at = una;
  for (let i = segs.head; i < segs.tail; i++) {
    assertEquals(segs.start[i], at >>> 0, `record ${i} starts where the last ended`);
    const len = (segs.end[i] - segs.start[i]) >>> 0;
    assert(len > 0 && len < 1 << 30, `record ${i} has a length: ${len}`);
    const f = segs.flags[i];
    if (f & SEG_SACKED) sacked += len;
    else {
      if (f & SEG_LOST) lost += len;
      if (f & SEG_RETRANS) retrans += len;
      if ((f & (SEG_LOST | SEG_RETRANS)) === SEG_LOST) pending += len;
    }
    at = segs.end[i];
  }
  if (segs.count > 0) assertEquals(at >>> 0, max >>> 0, "the last record ends at SND.MAX");
  assertEquals(
    [segs.sackedBytes, segs.lostBytes, segs.retransBytes, segs.pendingBytes],
    [sacked, lost, retrans, pending],
  );
}

const op = fc.oneof(
  fc.record({ k: fc.constant("send"), n: fc.integer({ min: 1, max: 5000 }) }),
  fc.record({ k: fc.constant("rtx"), a: fc.nat(), n: fc.integer({ min: 1, max: 3000 }) }),
  fc.record({ k: fc.constant("sack"), a: fc.nat(), n: fc.integer({ min: 1, max: 4000 }) }),
  fc.record({ k: fc.constant("ack"), a: fc.nat() }),
  fc.record({ k: fc.constant("rto") }),
  fc.record({ k: fc.constant("detect"), dt: fc.integer({ min: 0, max: 50 }) }),
);

Deno.test("property: the record tiles the flight and keeps its totals under any sequence", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 0xffffffff }),
      fc.array(op, { maxLength: 80 }),
      (isn, ops) => {
        const rack = new Rack();
        const segs = rack.segs;
        let una = isn >>> 0;
        let max = una;
        let now = 1000;
        for (const o of ops) {
          now += 1;
          const out = (max - una) >>> 0;
          switch (o.k) {
            case "send":
              rack.sent(max, (max + o.n) >>> 0, max, now, 0);
              max = (max + o.n) >>> 0;
              break;
            case "rtx": {
              if (out === 0) break;
              const s = (una + (o.a % out)) >>> 0;
              const e = (s + Math.min(o.n, (max - s) >>> 0)) >>> 0;
              rack.sent(s, e, max, now, 0);
              break;
            }
            case "sack": {
              if (out === 0) break;
              // Within the flight, as ack.ts hands them over after validating.
              const l = (una + (o.a % out)) >>> 0;
              const r = (l + Math.min(o.n, (max - l) >>> 0)) >>> 0;
              if (l !== r) rack.sacked(l, r, now);
              break;
            }
            case "ack":
              una = (una + (out === 0 ? 0 : o.a % (out + 1))) >>> 0;
              rack.acked(una, now);
              break;
            case "rto":
              rack.markAllLost(false);
              break;
            case "detect":
              now += o.dt;
              rack.detectLoss(now, 2);
              break;
          }
          check(segs, una, max);
          assert(segs.pipe(out) >= 0 || segs.count === 0, "a pipe below zero");
        }
      },
    ),
    { numRuns: 400 },
  );
});

Deno.test("the record grows with the flight and compacts in place", () => {
  const s = new SentSegments();
  for (let i = 0; i < 1000; i++) s.append(i * 10, i * 10 + 10, i, i + 1);
  assertEquals(s.count, 1000);
  s.advance(9000, () => {});
  assertEquals([s.count, s.start[s.head]], [100, 9000]);
  // Splits in the middle move the tail by one each.
  for (let i = 0; i < 50; i++) assert(s.splitAt(9000 + i * 10 + 5) > 0);
  assertEquals(s.count, 150);
  check(s, 9000, 10_000);
});
