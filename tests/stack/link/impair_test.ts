import { assert, assertEquals, assertMatch } from "../../assert.ts";
import {
  formatImpairSpec,
  ImpairedDevice,
  type ImpairSpec,
  parseImpairSpec,
  REORDER_HOLD_MS,
} from "../../../stack/link/impair.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { parseIpv4 } from "../../../stack/wire/address.ts";

const NONE: ImpairSpec = { loss: 0, reorder: 0, duplicate: 0, delayMs: 0, seed: 1 };

/** A 60-byte frame carrying `id` at offset 14. */
function frame(id: number): Uint8Array {
  const f = new Uint8Array(60);
  f.fill(0xff, 0, 6);
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental EtherType
  new DataView(f.buffer).setUint32(14, id);
  return f;
}

function idOf(buf: Uint8Array, off: number): number {
  return ((buf[off + 14] << 24) | (buf[off + 15] << 16) | (buf[off + 16] << 8) | buf[off + 17]) >>>
    0;
}

/**
 * An impaired device `a` (wrapping one end of a memory pair) and the far end `b`; records the ids
 * `b` receives (what `a` sent) and the ids `a`'s handler receives (what `b` sent), with times.
 */
function rig(spec: ImpairSpec) {
  const [ma, mb] = createMemoryPair({ queueLength: 4096 });
  const a = new ImpairedDevice(ma, spec);
  const atB: number[] = [];
  const atA: number[] = [];
  const timesAtB: number[] = [];
  let idles = 0;
  const runs = [
    mb.run((buf, off) => {
      atB.push(idOf(buf, off));
      timesAtB.push(performance.now());
    }),
    a.run((buf, off) => atA.push(idOf(buf, off)), () => idles++),
  ];
  return {
    a,
    b: mb,
    atA,
    atB,
    timesAtB,
    idles: () => idles,
    async close() {
      a.close();
      mb.close();
      await Promise.all(runs);
    },
  };
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 2));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 30));

Deno.test("parseImpairSpec: the CLI syntax, defaults and round trip", () => {
  const s = parseImpairSpec("loss=2%,reorder=5%,dup=1%,delay=5ms") as ImpairSpec;
  assertEquals(s, { loss: 0.02, reorder: 0.05, duplicate: 0.01, delayMs: 5, seed: 1 });
  assertEquals(
    parseImpairSpec("loss=0.5,delay=1.5s,jitter=500us,seed=42,dir=in,limit=64,duplicate=0%"),
    {
      loss: 0.5,
      reorder: 0,
      duplicate: 0,
      delayMs: 1500,
      jitterMs: 0.5,
      seed: 42,
      direction: "in",
      limit: 64,
    },
  );
  assertEquals(parseImpairSpec("delay=7"), { ...NONE, delayMs: 7 });
  assertEquals(parseImpairSpec(formatImpairSpec(s)), s);
  const all = parseImpairSpec("loss=1%,jitter=2ms,dir=out,limit=9,seed=5") as ImpairSpec;
  assertEquals(parseImpairSpec(formatImpairSpec(all)), all);
});

Deno.test("parseImpairSpec: every bad part is named", () => {
  const bad: [string, RegExp][] = [
    ["", /empty/],
    ["loss", /not KEY=VALUE/],
    ["loss=2", /not a probability/],
    ["loss=101%", /not a probability/],
    ["loss=-1%", /not a probability/],
    ["loss=abc", /not a probability/],
    ["delay=5min", /not a time/],
    ["jitter=x", /not a time/],
    ["seed=-3", /seed/],
    ["seed=99999999999", /seed/],
    ["dir=up", /dir: "up"/],
    ["limit=0", /limit must be/],
    ["limit=2.5", /limit/],
    ["drop=1%", /unknown key "drop"/],
    ["loss=1%,loss=2%", /given twice/],
    ["dup=1%,duplicate=2%", /given twice/],
  ];
  for (const [text, re] of bad) {
    const r = parseImpairSpec(text);
    assert(typeof r === "string", `${text} should be refused`);
    assertMatch(r, re, text);
  }
});

Deno.test("ImpairedDevice: an invalid spec is a RangeError at construction", () => {
  const [m] = createMemoryPair();
  let err: unknown;
  try {
    new ImpairedDevice(m, { ...NONE, loss: 2 });
  } catch (e) {
    err = e;
  }
  assert(err instanceof RangeError);
});

Deno.test("ImpairedDevice: no impairment passes frames through in order, both ways", async () => {
  const r = rig(NONE);
  try {
    for (let i = 0; i < 100; i++) {
      assert(r.a.send(frame(i), 0, 60));
      r.b.send(frame(1000 + i), 0, 60);
    }
    await until(() => r.atB.length === 100 && r.atA.length === 100);
    assertEquals(r.atB, Array.from({ length: 100 }, (_, i) => i));
    assertEquals(r.atA, Array.from({ length: 100 }, (_, i) => 1000 + i));
    assertEquals(r.a.queued, 0);
    assertEquals(r.a.stats.txFrames, 100, "the inner device's counters");
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: seeded loss is near the rate and reproducible", async () => {
  const lostWith = async (seed: number) => {
    const r = rig({ ...NONE, loss: 0.3, seed, direction: "out" });
    try {
      for (let i = 0; i < 2000; i++) assert(r.a.send(frame(i), 0, 60), "loss is silent");
      await until(() => r.atB.length + r.a.impairStats.txLost === 2000);
      await settle();
      assertEquals(r.atB.length + r.a.impairStats.txLost, 2000);
      const got = new Set(r.atB);
      return Array.from({ length: 2000 }, (_, i) => i).filter((i) => !got.has(i));
    } finally {
      await r.close();
    }
  };
  const a = await lostWith(7);
  const b = await lostWith(7);
  const c = await lostWith(8);
  assert(a.length > 500 && a.length < 700, `lost ${a.length} of 2000 at 30%`);
  assertEquals(a, b, "same seed, same frames lost");
  assert(JSON.stringify(a) !== JSON.stringify(c), "another seed loses other frames");
});

Deno.test("ImpairedDevice: loss=100% in one direction leaves the other alone", async () => {
  const r = rig({ ...NONE, loss: 1, direction: "in" });
  try {
    for (let i = 0; i < 20; i++) {
      r.a.send(frame(i), 0, 60);
      r.b.send(frame(100 + i), 0, 60);
    }
    await until(() => r.atB.length === 20);
    await settle();
    assertEquals(r.atA, []);
    assertEquals(r.a.impairStats.rxLost, 20);
    assertEquals(r.a.impairStats.txLost, 0);
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: dup=100% delivers every frame twice", async () => {
  const r = rig({ ...NONE, duplicate: 1 });
  try {
    for (let i = 0; i < 10; i++) r.a.send(frame(i), 0, 60);
    await until(() => r.atB.length === 20);
    assertEquals(r.atB, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]);
    assertEquals(r.a.impairStats.txDuplicated, 10);
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: reorder=100% swaps neighbours; a lone held frame leaves later", async () => {
  const r = rig({ ...NONE, reorder: 1, direction: "out" });
  try {
    for (let i = 0; i < 6; i++) r.a.send(frame(i), 0, 60);
    await until(() => r.atB.length === 6);
    assertEquals(r.atB, [1, 0, 3, 2, 5, 4]);
    // One more, with no successor: held, then released by the timer.
    const t0 = performance.now();
    r.a.send(frame(6), 0, 60);
    assertEquals(r.a.queued, 1);
    await until(() => r.atB.length === 7);
    assert(r.timesAtB[6] - t0 >= REORDER_HOLD_MS - 1, "held about REORDER_HOLD_MS");
    assertEquals(r.a.impairStats.txReordered, 4);
    assertEquals(r.a.queued, 0);
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: delay holds frames in order; received ones are followed by onIdle", async () => {
  const r = rig({ ...NONE, delayMs: 40 });
  try {
    const t0 = performance.now();
    for (let i = 0; i < 50; i++) r.a.send(frame(i), 0, 60);
    const idlesBefore = r.idles();
    r.b.send(frame(500), 0, 60);
    assertEquals(r.a.queued, 50);
    await until(() => r.atB.length === 50 && r.atA.length === 1);
    assertEquals(r.atB, Array.from({ length: 50 }, (_, i) => i));
    assert(r.timesAtB[0] - t0 >= 39, `first after ${r.timesAtB[0] - t0} ms`);
    assert(r.idles() >= idlesBefore + 2, "one idle after the device burst, one after release");
    assertEquals(r.a.impairStats.txDelayed, 50);
    assertEquals(r.a.impairStats.rxDelayed, 1);
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: jitter keeps delays within delay ± jitter", async () => {
  const r = rig({ ...NONE, delayMs: 30, jitterMs: 20, direction: "out" });
  try {
    const sent: number[] = [];
    for (let i = 0; i < 40; i++) {
      sent.push(performance.now());
      r.a.send(frame(i), 0, 60);
    }
    await until(() => r.atB.length === 40);
    for (let k = 0; k < 40; k++) {
      const id = r.atB[k];
      const d = r.timesAtB[k] - sent[id];
      assert(d >= 9 && d <= 70, `frame ${id} delayed ${d} ms`);
    }
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: the pool is bounded; overflow is dropped and counted", async () => {
  const r = rig({ ...NONE, delayMs: 20, limit: 10, direction: "out" });
  try {
    let accepted = 0;
    for (let i = 0; i < 25; i++) if (r.a.send(frame(i), 0, 60)) accepted++;
    assertEquals(accepted, 10);
    assertEquals(r.a.impairStats.txOverflow, 15);
    await until(() => r.atB.length === 10);
    assertEquals(r.atB, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The slots are free again.
    for (let i = 0; i < 10; i++) assert(r.a.send(frame(100 + i), 0, 60));
  } finally {
    await r.close();
  }
});

Deno.test("ImpairedDevice: close() discards queued frames and stops the timer", async () => {
  const r = rig({ ...NONE, delayMs: 50 });
  for (let i = 0; i < 5; i++) r.a.send(frame(i), 0, 60);
  await r.close();
  await new Promise((res) => setTimeout(res, 80));
  assertEquals(r.atB, []);
});

Deno.test("ImpairedDevice: two stacks ping through delay in both directions", async () => {
  const [da, db] = createMemoryPair();
  const ia = new ImpairedDevice(da, { ...NONE, delayMs: 15 });
  const A = parseIpv4("10.8.0.1")!;
  const B = parseIpv4("10.8.0.2")!;
  const a = new Stack({ device: ia, address: A, prefix: 24 });
  const b = new Stack({ device: db, address: B, prefix: 24 });
  const runs = [a.start(), b.start()];
  try {
    // ARP first (request out, reply in: one round trip), then the echo round trip.
    const first = await a.ping(B, { timeoutMs: 2000 });
    assert(first !== null);
    const r = await a.ping(B, { timeoutMs: 2000 });
    assert(r !== null);
    assert(r.rttMs >= 29, `a round trip crosses the 15 ms delay twice: ${r.rttMs} ms`);
    assertEquals(ia.impairStats.txDelayed >= 3 && ia.impairStats.rxDelayed >= 3, true);
  } finally {
    a.close();
    b.close();
    await Promise.all(runs);
  }
});
