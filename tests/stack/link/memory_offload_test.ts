/**
 * In-memory devices with offload metadata (as a TAP with IFF_VNET_HDR): the metadata a frame is
 * sent with (send()'s `offload`) arrives in the peer's `rxOffload` with that frame and no other,
 * the caller's object is never changed, super-frames pass only with a GSO type, and decorators
 * (pcap, impairment) pass each frame's metadata through, delayed and duplicated frames included.
 */
import { assert, assertEquals } from "../../assert.ts";
import { createMemoryDevice, createMemoryPair, MemoryDevice } from "../../../stack/link/memory.ts";
import { ImpairedDevice } from "../../../stack/link/impair.ts";
import { PcapDevice, type PcapSink, PcapWriter } from "../../../stack/link/pcap.ts";
import {
  type FrameOffload,
  MAX_GSO_FRAME,
  newFrameOffload,
  VNET_F_DATA_VALID,
  VNET_F_NEEDS_CSUM,
  VNET_GSO_TCPV4,
} from "../../../stack/link/offload.ts";

/** A frame of `len` bytes carrying `id` at offset 14 (local experimental EtherType). */
function frame(id: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  f.fill(0xff, 0, 6);
  f[12] = 0x88;
  f[13] = 0xb5;
  f[14] = id;
  for (let i = 15; i < len; i++) f[i] = (i * 13 + id) & 0xff;
  return f;
}

const GSO: FrameOffload = {
  flags: VNET_F_NEEDS_CSUM,
  gsoType: VNET_GSO_TCPV4,
  hdrLen: 66,
  gsoSize: 1448,
  csumStart: 34,
  csumOffset: 16,
};

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** What a receiver saw: the frame's id, length and metadata at the time of the call. */
interface Seen {
  id: number;
  len: number;
  meta: FrameOffload | null;
}

function recorder(rx: FrameOffload | undefined, into: Seen[]) {
  return (buf: Uint8Array, off: number, len: number) => {
    into.push({ id: buf[off + 14], len, meta: rx === undefined ? null : { ...rx } });
  };
}

Deno.test("memory offload: metadata goes with its own frame; a plain send carries zeros", async () => {
  const [a, b] = createMemoryPair({ offload: true });
  assert(a.txOffloads && b.rxOffload !== undefined);
  const seen: Seen[] = [];
  const done = b.run(recorder(b.rxOffload, seen));
  const csumOnly = { ...GSO, gsoType: 0, gsoSize: 0 };
  const meta = { ...csumOnly };
  assert(a.send(frame(1), 0, 60, meta));
  assertEquals(meta, csumOnly, "send() does not change the caller's metadata");
  assert(a.send(frame(2), 0, 60));
  assert(a.send(frame(3), 0, 60, null));
  assert(a.send(frame(4), 0, 60, { ...newFrameOffload(), flags: VNET_F_DATA_VALID }));
  await until(() => seen.length === 4);
  assertEquals(seen[0].meta, csumOnly);
  assertEquals(seen[1].meta, newFrameOffload(), "nothing left over from the frame before");
  assertEquals(seen[2].meta, newFrameOffload());
  assertEquals(seen[3].meta?.flags, VNET_F_DATA_VALID);
  b.close();
  await done;
});

Deno.test("memory offload: a super-frame, then a plain send: the second arrives plain", async () => {
  const [a, b] = createMemoryPair({ offload: true, queueLength: 8 });
  const seen: Seen[] = [];
  const done = b.run(recorder(b.rxOffload, seen));
  // One object reused for every frame, as a sender keeps it: refilled after the first send.
  const meta = { ...GSO };
  const big = frame(1, 9000);
  assert(a.send(big, 0, big.length, meta));
  assertEquals(meta, GSO, "unchanged by the send");
  assert(a.send(frame(2), 0, 60), "plain: no metadata argument");
  Object.assign(meta, { ...newFrameOffload(), flags: VNET_F_NEEDS_CSUM, csumStart: 34 });
  assert(a.send(frame(3), 0, 60, meta));
  assert(!a.send(big, 0, big.length), "a super-frame without its metadata is too long");
  await until(() => seen.length === 3);
  assertEquals(seen.map((s) => [s.id, s.len]), [[1, 9000], [2, 60], [3, 60]]);
  assertEquals(seen[0].meta, GSO, "each frame's metadata as it was when sent");
  assertEquals(seen[1].meta, newFrameOffload(), "the plain frame is plain");
  assertEquals(seen[2].meta, { ...newFrameOffload(), flags: VNET_F_NEEDS_CSUM, csumStart: 34 });
  assertEquals(a.stats.txDropped, 1);
  b.close();
  await done;
});

Deno.test("memory offload: a super-frame passes only with a GSO type, up to 65535 + 18", async () => {
  const [a, b] = createMemoryPair({ offload: true, queueLength: 8 });
  const seen: Seen[] = [];
  const done = b.run(recorder(b.rxOffload, seen));
  const big = frame(9, 20000);
  assert(!a.send(big, 0, big.length), "longer than mtu + 18 without GSO: dropped");
  assertEquals(a.stats.txDropped, 1);
  assert(a.send(big, 0, big.length, GSO));
  const max = frame(10, MAX_GSO_FRAME);
  assert(a.send(max, 0, max.length, GSO));
  assert(!a.send(frame(11, MAX_GSO_FRAME + 1), 0, MAX_GSO_FRAME + 1, GSO));
  assertEquals(a.stats.txDropped, 2);
  await until(() => seen.length === 2);
  assertEquals(seen.map((s) => [s.id, s.len]), [[9, 20000], [10, MAX_GSO_FRAME]]);
  assertEquals(seen[0].meta, GSO);
  b.close();
  await done;
});

Deno.test("memory offload: a device without offloads takes no metadata and no super-frame", () => {
  const a = createMemoryDevice({ offload: true });
  const b = createMemoryDevice();
  assertEquals(b.rxOffload, undefined);
  assertEquals(b.txOffloads, false);
  // Joined by hand: an offload sender, a plain receiver.
  MemoryDevice.connect(a, b);
  const big = frame(1, 5000);
  assert(!a.send(big, 0, big.length, GSO));
  assertEquals(b.queued, 0);
  // The plain device refuses metadata that asks for work, even on a small frame.
  assert(!b.send(frame(2), 0, 60, { ...GSO, gsoType: 0, gsoSize: 0 }));
  assertEquals(b.stats.txDropped, 1);
  assert(b.send(frame(3), 0, 60, newFrameOffload()), "all-zero metadata is a plain frame");
  assertEquals(a.queued, 1);
});

Deno.test("memory offload: inject with metadata; capture keeps what each frame was sent with", async () => {
  const a = createMemoryDevice({ offload: true, capture: true });
  const seen: Seen[] = [];
  const done = a.run(recorder(a.rxOffload, seen));
  const big = frame(4, 9000);
  assert(a.inject(big, 0, big.length, GSO));
  assert(!a.inject(big, 0, big.length), "a super-frame without metadata is too long");
  assert(a.inject(frame(5), 0, 60));
  await until(() => seen.length === 2);
  assertEquals(seen[0], { id: 4, len: 9000, meta: GSO });
  assertEquals(seen[1].meta, newFrameOffload());
  assert(a.send(big, 0, big.length, GSO));
  assert(a.send(frame(6), 0, 60));
  assertEquals(a.takeSent().length, 2);
  assertEquals(a.takeSentOffload(), [GSO, newFrameOffload()]);
  a.close();
  await done;
});

Deno.test("pcap wrapper: the inner device's offloads; each frame's metadata goes through", () => {
  const inner = createMemoryDevice({ offload: true, capture: true });
  const sink: PcapSink = { writeSync: (p) => p.length, close() {} };
  const p = new PcapDevice(inner, new PcapWriter(sink));
  assert(p.rxOffload === inner.rxOffload && p.txOffloads);
  const big = frame(1, 3000);
  assert(p.send(big, 0, big.length, GSO), "the inner device sees the GSO type");
  assert(p.send(frame(2), 0, 60));
  assertEquals(inner.takeSentOffload(), [GSO, newFrameOffload()]);
  const plain = new PcapDevice(createMemoryDevice(), new PcapWriter(sink));
  assertEquals(plain.txOffloads, false);
});

Deno.test("impairment: metadata follows delayed, duplicated, reordered frames, both ways", async () => {
  const [ma, mb] = createMemoryPair({ offload: true, queueLength: 32 });
  const a = new ImpairedDevice(ma, {
    loss: 0,
    reorder: 0.5,
    duplicate: 0.25,
    delayMs: 15,
    jitterMs: 10,
    seed: 3,
    limit: 32,
  });
  assert(a.txOffloads && a.rxOffload !== undefined && a.rxOffload !== ma.rxOffload);
  const atB: Seen[] = [];
  const atA: Seen[] = [];
  const runs = [mb.run(recorder(mb.rxOffload, atB)), a.run(recorder(a.rxOffload, atA))];
  try {
    const metaFor = (id: number): FrameOffload =>
      id % 2 === 0 ? { ...GSO, gsoSize: 1000 + id } : newFrameOffload();
    // One object per sender, refilled for every frame while earlier frames wait in the pool.
    const metaA = newFrameOffload();
    const metaB = newFrameOffload();
    for (let id = 0; id < 8; id++) {
      Object.assign(metaA, metaFor(id));
      const f = frame(id, id % 2 === 0 ? 4000 : 60);
      assert(a.send(f, 0, f.length, metaA));
      assertEquals(metaA, metaFor(id), "not changed by send()");
      Object.assign(metaB, metaFor(id));
      assert(mb.send(f, 0, f.length, metaB));
    }
    const st = a.impairStats;
    await until(() => atB.length === 8 + st.txDuplicated && atA.length === 8 + st.rxDuplicated);
    assert(st.txDuplicated + st.rxDuplicated > 0, "some frames were duplicated");
    for (const s of [...atA, ...atB]) {
      assertEquals(s.meta, metaFor(s.id), `frame ${s.id}`);
      assertEquals(s.len, s.id % 2 === 0 ? 4000 : 60);
    }
    assert(st.txDelayed + st.rxDelayed >= 8, "frames went through the pool");
  } finally {
    a.close();
    mb.close();
    await Promise.all(runs);
  }
});
