import { assert, assertEquals, assertThrows } from "../../assert.ts";
import { RealServer } from "../../../lb/service.ts";
import {
  isPrime,
  MaglevScheduler,
  MH_DEFAULT_TABLE_SIZE,
  populate,
} from "../../../lb/scheduler/mh.ts";

function reals(...weights: number[]): RealServer[] {
  return weights.map((weight, i) =>
    new RealServer({ address: 0xc0a80a01 + i, port: 8080, weight })
  );
}

/** Deterministic pseudo-random (address, port) keys (xorshift32). */
function keys(n: number, seed = 0x2545f491): [number, number][] {
  const out: [number, number][] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const a = x >>> 0;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.push([a, (x >>> 0) & 0xffff]);
  }
  return out;
}

function shares(s: MaglevScheduler, list: RealServer[], ks: [number, number][]): number[] {
  const counts = list.map(() => 0);
  for (const [a, p] of ks) counts[list.indexOf(s.pick(a, p)!)]++;
  return counts.map((c) => c / ks.length);
}

Deno.test("mh populate: the Maglev paper's example (M = 7, Table 1)", () => {
  // Paper section 3.4, Table 1: B0 offset 3 skip 4, B1 offset 0 skip 2, B2 offset 3 skip 1.
  // Permutations: B0 3 0 4 1 5 2 6; B1 0 2 4 6 1 3 5; B2 3 4 5 6 0 1 2.
  // Pseudocode 1: B0 3, B1 0, B2 (3 taken) 4; B0 (0, 4 taken) 1, B1 2, B2 5; B0 (5, 2 taken) 6.
  const out = new Int32Array(7);
  populate(7, [3, 0, 3], [4, 2, 1], [1, 1, 1], out);
  assertEquals([...out], [1, 0, 1, 0, 2, 2, 0]); // "Before": B1 B0 B1 B0 B2 B2 B0
  // B1 removed: B0 3, B2 4; B0 0, B2 5; B0 (4 taken) 1, B2 6; B0 (5 taken) 2.
  populate(7, [3, 3], [4, 1], [1, 1], out);
  assertEquals([...out], [0, 0, 0, 0, 1, 1, 1]); // "After": B0 B0 B0 B0 B2 B2 B2
  // The same with B1 kept in the list but given no turns.
  populate(7, [3, 0, 3], [4, 2, 1], [1, 0, 1], out);
  assertEquals([...out], [0, 0, 0, 0, 2, 2, 2]);
});

Deno.test("mh populate: turns let a backend claim several positions per round", () => {
  // B0 offset 0 skip 1 (0 1 2 3 4 5 6), turns 2; B1 offset 0 skip 3 (0 3 6 2 5 1 4), turns 1.
  // Round 1: B0 0, 1; B1 (0 taken) 3. Round 2: B0 2, (3 taken) 4; B1 6. Round 3: B0 5.
  const out = new Int32Array(7);
  populate(7, [0, 0], [1, 3], [2, 1], out);
  assertEquals([...out], [0, 0, 0, 1, 0, 0, 1]);
});

Deno.test("mh populate: no turns at all leaves the table empty", () => {
  const out = new Int32Array(7);
  populate(7, [1, 2], [1, 1], [0, 0], out);
  assertEquals([...out], [-1, -1, -1, -1, -1, -1, -1]);
  populate(7, [], [], [], out);
  assertEquals([...out], [-1, -1, -1, -1, -1, -1, -1]);
});

Deno.test("mh: table size must be a prime; 65537 by default", () => {
  assert(isPrime(65537) && isPrime(251) && isPrime(2));
  assert(!isPrime(65536) && !isPrime(1) && !isPrime(65535) && !isPrime(7.5));
  assertEquals(new MaglevScheduler().tableSize, MH_DEFAULT_TABLE_SIZE);
  assertEquals(MH_DEFAULT_TABLE_SIZE, 65537);
  assertEquals(new MaglevScheduler({ tableSize: 251 }).tableSize, 251);
  assertThrows(() => new MaglevScheduler({ tableSize: 65536 }), RangeError);
});

Deno.test("mh: equal weights share the keys equally", () => {
  const list = reals(1, 1, 1, 1, 1);
  const s = new MaglevScheduler();
  s.update(list);
  for (const share of shares(s, list, keys(100000))) {
    assert(Math.abs(share - 0.2) < 0.02, `share ${share}`);
  }
});

Deno.test("mh: shares follow the weights", () => {
  const list = reals(1, 2, 3, 4);
  const s = new MaglevScheduler();
  s.update(list);
  const got = shares(s, list, keys(100000));
  [0.1, 0.2, 0.3, 0.4].forEach((want, i) => {
    assert(Math.abs(got[i] - want) < 0.02, `server ${i}: ${got[i]} vs ${want}`);
  });
});

Deno.test("mh: a huge weight ratio still leaves the light server its share", () => {
  const list = reals(60000, 1000);
  const s = new MaglevScheduler();
  s.update(list);
  const got = shares(s, list, keys(50000));
  assert(Math.abs(got[1] - 1000 / 61000) < 0.01, `light share ${got[1]}`);
});

Deno.test("mh: removing one of N servers moves about 1/N of the keys", () => {
  const n = 10;
  const list = reals(...new Array(n).fill(1));
  const s = new MaglevScheduler();
  s.update(list);
  const ks = keys(100000, 11);
  const before = ks.map(([a, p]) => s.pick(a, p));
  const gone = list[3];
  s.update(list.filter((r) => r !== gone));
  let moved = 0;
  ks.forEach(([a, p], i) => {
    const now = s.pick(a, p);
    assert(now !== gone);
    if (now !== before[i]) moved++;
  });
  const fraction = moved / ks.length;
  assert(fraction >= 1 / n - 0.02 && fraction < 1 / n + 0.05, `moved ${fraction}`);
});

Deno.test("mh: an unavailable server counts as removed; back again restores the table", () => {
  const list = reals(1, 1, 1, 1);
  const s = new MaglevScheduler();
  s.update(list);
  const ks = keys(20000, 5);
  const before = ks.map(([a, p]) => s.pick(a, p));
  list[2].available = false;
  s.update(list);
  let moved = 0;
  ks.forEach(([a, p], i) => {
    const now = s.pick(a, p);
    assert(now !== null && now !== list[2]);
    if (now !== before[i]) moved++;
  });
  assert(moved / ks.length < 0.25 + 0.05, `moved ${moved / ks.length}`);
  list[2].available = true;
  s.update(list);
  ks.forEach(([a, p], i) => assertEquals(s.pick(a, p), before[i]));
});

Deno.test("mh: deterministic across instances and list orders", () => {
  const list = reals(1, 2, 1, 3);
  const copy = list.map((r) =>
    new RealServer({ address: r.address, port: r.port, weight: r.weight })
  );
  const s1 = new MaglevScheduler();
  const s2 = new MaglevScheduler();
  s1.update(list);
  s2.update([copy[3], copy[1], copy[0], copy[2]]);
  for (const [a, p] of keys(20000)) {
    assertEquals(copy.indexOf(s2.pick(a, p)!), list.indexOf(s1.pick(a, p)!));
  }
});

Deno.test("mh: the client port spreads one client; { port: false } pins it", () => {
  const list = reals(1, 1, 1, 1);
  const withPort = new MaglevScheduler();
  const addrOnly = new MaglevScheduler({ port: false });
  withPort.update(list);
  addrOnly.update(list);
  const client = 0x0a0a0a0a;
  const seen = new Set<RealServer | null>();
  const pinned = addrOnly.pick(client, 1);
  for (let port = 1024; port < 1224; port++) {
    seen.add(withPort.pick(client, port));
    assertEquals(addrOnly.pick(client, port), pinned);
  }
  assertEquals(seen.size, 4);
});

Deno.test("mh: weight 0 or unavailable never picked; none left gives null", () => {
  const list = reals(1, 0, 1);
  const s = new MaglevScheduler({ tableSize: 251 });
  s.update(list);
  for (const [a, p] of keys(3000)) assert(s.pick(a, p) !== list[1]);
  list[0].available = false; // without update(): refused at pick time
  for (const [a, p] of keys(3000)) assert(s.pick(a, p) !== list[0]);
  list[2].weight = 0;
  s.update(list);
  for (const [a, p] of keys(100)) assertEquals(s.pick(a, p), null);
  s.update([]);
  assertEquals(s.pick(1, 1), null);
});
