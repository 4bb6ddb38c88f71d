/** The SACK scoreboard against a per-octet model of RFC 6675's definitions. */
import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import { DUP_THRESH, SackScoreboard } from "../../../stack/tcp/sack_scoreboard.ts";

Deno.test("blocks merge, ignore D-SACK and unsent ranges, and advance with SND.UNA", () => {
  const s = new SackScoreboard();
  const una = 0xfffffff0; // across the wrap
  const max = (una + 1000) >>> 0;
  const at = (n: number) => (una + n) >>> 0;
  assert(s.add(at(100), at(200), una, max));
  assert(s.add(at(300), at(400), una, max));
  assert(!s.add(at(120), at(180), una, max), "covered already");
  assert(!s.add(at(-50), at(10), una, max), "below SND.UNA: D-SACK, not a hole report");
  assert(!s.add(at(900), at(1100), una, max), "beyond SND.MAX: bogus");
  assert(s.add(at(200), at(300), una, max), "fills the gap: one range");
  assertEquals(s.count, 1);
  assertEquals([s.starts[0], s.ends[0]], [at(100), at(400)]);
  assertEquals(s.sackedBytes, 300);
  s.advance(at(250));
  assertEquals([s.starts[0], s.ends[0]], [at(250), at(400)]);
  assertEquals(s.sackedBytes, 150);
  s.advance(at(500));
  assertEquals(s.count, 0);
  assertEquals(s.sackedBytes, 0);
});

Deno.test("IsLost: DupThresh ranges, or more than (DupThresh - 1) SMSS octets above", () => {
  const s = new SackScoreboard();
  const mss = 100;
  s.add(1100, 1200, 1000, 2000);
  s.add(1300, 1400, 1000, 2000);
  assert(!s.isLost(1000, mss), "2 ranges, 200 octets");
  s.add(1500, 1501, 1000, 2000);
  assert(s.isLost(1000, mss), "3 discontiguous ranges");
  const t = new SackScoreboard();
  t.add(1100, 1301, 1000, 2000);
  assert(t.isLost(1000, mss), "201 octets > 2 SMSS");
  assert(!t.isLost(1400, mss));
  assertEquals(DUP_THRESH, 3);
});

/** RFC 6675 on a per-octet model: sacked[i] for octet una + i. */
function model(sacked: boolean[], mss: number, highRxt: number) {
  const n = sacked.length;
  const isLost = (i: number) => {
    let bytes = 0;
    let ranges = 0;
    for (let j = i + 1; j < n; j++) {
      if (sacked[j]) {
        bytes++;
        if (j === i + 1 || !sacked[j - 1]) ranges++;
      }
    }
    return ranges >= DUP_THRESH || bytes > (DUP_THRESH - 1) * mss;
  };
  let pipe = 0;
  for (let i = 0; i < n; i++) {
    if (sacked[i]) continue;
    if (!isLost(i)) pipe++;
    if (i < highRxt) pipe++;
  }
  return { isLost, pipe };
}

Deno.test("property: ranges, IsLost and SetPipe agree with the per-octet RFC 6675 model", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(199), fc.integer({ min: 1, max: 40 })), { maxLength: 12 }),
      fc.integer({ min: 0, max: 200 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (blocks, highRxt, base) => {
        const n = 200;
        const mss = 10;
        const una = base >>> 0;
        const s = new SackScoreboard();
        const sacked = new Array(n).fill(false);
        for (const [start, len] of blocks) {
          const end = Math.min(n, start + len);
          s.add((una + start) >>> 0, (una + end) >>> 0, una, (una + n) >>> 0);
          for (let i = start; i < end; i++) sacked[i] = true;
        }
        // Same set of octets.
        const got = new Array(n).fill(false);
        for (let k = 0; k < s.count; k++) {
          const a = (s.starts[k] - una) >>> 0;
          const b = (s.ends[k] - una) >>> 0;
          if (k > 0) assert(((s.starts[k] - s.ends[k - 1]) | 0) > 0, "sorted, disjoint, merged");
          for (let i = a; i < b; i++) got[i] = true;
        }
        assertEquals(got, sacked);
        assertEquals(s.sackedBytes, sacked.filter(Boolean).length);
        const m = model(sacked, mss, highRxt);
        for (let i = 0; i < n; i++) {
          if (!sacked[i]) assertEquals(s.isLost((una + i) >>> 0, mss), m.isLost(i), `IsLost(${i})`);
        }
        assertEquals(s.pipe(una, (una + n) >>> 0, (una + highRxt) >>> 0, mss), m.pipe);
      },
    ),
    { numRuns: 300 },
  );
});
