import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import { createMemoryDevice, createMemoryPair, MemoryDevice } from "../../../stack/link/memory.ts";

/** Waits until `cond()` holds, polling every millisecond; throws after `timeoutMs`. */
async function waitFor(cond: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** A 60-byte frame: dst, src, ethertype 0x88b5 (local experimental), payload bytes = seq. */
function frame(seq: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 1, 0x88, 0xb5]);
  for (let i = 14; i < len; i++) f[i] = (seq + i) & 0xff;
  return f;
}

Deno.test("memory: a frame sent on one end arrives, byte for byte, at the other", async () => {
  const [a, b] = createMemoryPair();
  const got: Uint8Array[] = [];
  const done = b.run((buf, off, len) => got.push(buf.slice(off, off + len)));
  const f = frame(7);
  assert(a.send(f, 0, f.length));
  assertEquals(got.length, 0, "delivery is asynchronous: nothing before the sender yields");
  await waitFor(() => got.length === 1);
  assertEquals(got[0], f);
  assertEquals(a.stats.txFrames, 1);
  assertEquals(a.stats.txBytes, 60);
  assertEquals(b.stats.rxFrames, 1);
  assertEquals(b.stats.rxBytes, 60);
  b.close();
  await done;
  a.close();
});

Deno.test("memory: send copies, so the sender may reuse its buffer at once", async () => {
  const [a, b] = createMemoryPair();
  const got: Uint8Array[] = [];
  const done = b.run((buf, off, len) => got.push(buf.slice(off, off + len)));
  const buf = new Uint8Array(100);
  buf.set(frame(1), 10);
  assert(a.send(buf, 10, 60));
  buf.fill(0xee); // overwrite before the receiver ran
  buf.set(frame(2), 20);
  assert(a.send(buf, 20, 60));
  await waitFor(() => got.length === 2);
  assertEquals(got[0], frame(1));
  assertEquals(got[1], frame(2));
  b.close();
  await done;
});

Deno.test("memory: frames are handed over with the IP header 4-byte aligned", async () => {
  const [a, b] = createMemoryPair({ queueLength: 8 });
  const offs: number[] = [];
  const done = b.run((buf, off) => offs.push(buf.byteOffset + off + 14));
  for (let i = 0; i < 5; i++) a.send(frame(i), 0, 60);
  await waitFor(() => offs.length === 5);
  for (const o of offs) assertEquals(o % 4, 0);
  b.close();
  await done;
});

Deno.test("memory: bounded queue drops and counts when full", () => {
  const [a, b] = createMemoryPair({ queueLength: 4 });
  const results: boolean[] = [];
  for (let i = 0; i < 6; i++) results.push(a.send(frame(i), 0, 60));
  assertEquals(results, [true, true, true, true, false, false]);
  assertEquals(a.stats.txFrames, 4);
  assertEquals(a.stats.txDropped, 2);
  assertEquals(b.queued, 4);
});

Deno.test("memory: frame size limits are mtu + 18 and 14", () => {
  const [a] = createMemoryPair({ mtu: 1500 });
  assert(a.send(new Uint8Array(1518), 0, 1518), "1500 + Ethernet + one VLAN tag fits");
  assert(!a.send(new Uint8Array(1519), 0, 1519), "one byte more is dropped");
  assert(!a.send(new Uint8Array(13), 0, 13), "shorter than an Ethernet header");
  assert(a.send(new Uint8Array(14), 0, 14));
  assert(!a.send(new Uint8Array(60), 10, 60), "range beyond the buffer");
  assert(!a.send(new Uint8Array(60), -1, 20), "negative offset");
  assertEquals(a.stats.txDropped, 4);
  assertEquals(a.stats.txFrames, 2);
});

Deno.test("memory: onIdle runs once after each drained burst", async () => {
  const [a, b] = createMemoryPair();
  const events: string[] = [];
  const done = b.run((buf, off) => events.push(`f${buf[off + 14]}`), () => events.push("idle"));
  for (let i = 0; i < 3; i++) a.send(frame(0x10 * (i + 1) - 14), 0, 60);
  await waitFor(() => events.includes("idle"));
  assertEquals(events, ["f16", "f32", "f48", "idle"]);
  a.send(frame(64 - 14), 0, 60);
  await waitFor(() => events.length === 6);
  assertEquals(events.slice(4), ["f64", "idle"]);
  b.close();
  await done;
});

Deno.test("memory: a handler that replies is never re-entered (ping-pong)", async () => {
  const [a, b] = createMemoryPair();
  let depth = 0;
  let maxDepth = 0;
  let rounds = 0;
  const reply = (dev: MemoryDevice) => (buf: Uint8Array, off: number, len: number) => {
    depth++;
    maxDepth = Math.max(maxDepth, depth);
    rounds++;
    if (rounds < 200) {
      // Reply from the receive buffer itself: must be copied before the slot is reused.
      buf[off + 20]++;
      dev.send(buf, off, len);
      dev.inject(buf, off, len); // and one into our own queue: also not re-entrant
    }
    depth--;
  };
  const ra = a.run(reply(a));
  const rb = b.run(reply(b));
  a.send(frame(0), 0, 60);
  await waitFor(() => rounds >= 200);
  assertEquals(maxDepth, 1);
  a.close();
  b.close();
  await Promise.all([ra, rb]);
});

Deno.test("memory: close() ends run(), discards the queue; sends to a closed peer drop", async () => {
  const [a, b] = createMemoryPair();
  let frames = 0;
  const done = b.run(() => frames++);
  b.close();
  b.close(); // idempotent
  await done;
  assert(!a.send(frame(1), 0, 60));
  assertEquals(a.stats.txDropped, 1);
  assert(b.closed);
  assertEquals(frames, 0);
  assert(!b.inject(frame(1)));
  assertEquals(b.stats.rxDropped, 1);
  // run() after close returns at once.
  await b.run(() => frames++);
});

Deno.test("memory: inject delivers a frame as if received", async () => {
  const dev = createMemoryDevice({ name: "solo" });
  const got: Uint8Array[] = [];
  const done = dev.run((buf, off, len) => got.push(buf.slice(off, off + len)));
  assert(dev.inject(frame(3)));
  const framed = new Uint8Array(80);
  framed.set(frame(4), 5);
  assert(dev.inject(framed, 5, 60));
  await waitFor(() => got.length === 2);
  assertEquals(got, [frame(3), frame(4)]);
  assertEquals(dev.stats.rxFrames, 2);
  dev.close();
  await done;
});

Deno.test("memory: capture and onSend show what a device sent", () => {
  const dev = createMemoryDevice({ capture: true });
  const seen: number[] = [];
  dev.onSend = (_buf, _off, len) => seen.push(len);
  const buf = frame(9, 64);
  assert(dev.send(buf, 0, 64));
  buf.fill(0); // the capture is a copy
  assert(!dev.send(buf, 0, 10));
  assertEquals(dev.sent, [frame(9, 64)]);
  assertEquals(seen, [64]);
  assertEquals(dev.takeSent().length, 1);
  assertEquals(dev.sent.length, 0);
});

Deno.test("memory: a throwing handler is reported and the loop goes on", async () => {
  const [a, b] = createMemoryPair();
  let ok = 0;
  const origError = console.error;
  console.error = () => {}; // the report is expected; keep the test output clean
  try {
    const done = b.run((buf, off) => {
      if (buf[off + 14] === 0xaa) throw new Error("handler bug");
      ok++;
    });
    const bad = frame(0);
    bad[14] = 0xaa;
    a.send(bad, 0, 60);
    a.send(frame(1), 0, 60);
    await waitFor(() => ok === 1);
    assertEquals(b.handlerErrors, 1);
    b.close();
    await done;
  } finally {
    console.error = origError;
  }
});

Deno.test("memory: explicit MACs and names are kept; default MACs are local unicast", () => {
  const macA = new Uint8Array([2, 0, 0, 0, 0, 0xa]);
  const [a, b] = createMemoryPair({ macA, nameA: "left", nameB: "right", mtu: 9000 });
  assertEquals(a.mac, macA);
  assertEquals(a.name, "left");
  assertEquals(b.name, "right");
  assertEquals(b.mtu, 9000);
  assertEquals(b.mac.length, 6);
  assertEquals(b.mac[0] & 0x03, 0x02);
  assert(a.peer === b && b.peer === a);
});

Deno.test("memory: property: any sequence of valid frames arrives intact and in order", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.uint8Array({ minLength: 14, maxLength: 1518 }), { maxLength: 40 }),
      async (frames) => {
        const [a, b] = createMemoryPair({ queueLength: 64 });
        const got: Uint8Array[] = [];
        const done = b.run((buf, off, len) => got.push(buf.slice(off, off + len)));
        for (const f of frames) assert(a.send(f, 0, f.length));
        await waitFor(() => got.length === frames.length);
        assertEquals(got, frames);
        b.close();
        await done;
      },
    ),
    { numRuns: 50 },
  );
});
