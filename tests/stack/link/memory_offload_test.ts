/**
 * In-memory devices with offload metadata (as a TAP with IFF_VNET_HDR): what `txOffload` says
 * when a frame is sent arrives in the peer's `rxOffload` with that frame, super-frames pass only
 * with a GSO type, `txOffload` is reset by every send, and decorators (pcap, impairment) pass the
 * metadata through, delayed frames included.
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

Deno.test("memory offload: metadata travels with each frame; a plain send carries zeros", async () => {
  const [a, b] = createMemoryPair({ offload: true });
  assert(a.txOffload !== undefined && b.rxOffload !== undefined);
  const seen: Seen[] = [];
  const done = b.run(recorder(b.rxOffload, seen));
  Object.assign(a.txOffload, { ...GSO, gsoType: 0, gsoSize: 0 });
  assert(a.send(frame(1), 0, 60));
  assertEquals(a.txOffload, newFrameOffload(), "send() resets txOffload");
  assert(a.send(frame(2), 0, 60));
  a.txOffload.flags = VNET_F_DATA_VALID;
  assert(a.send(frame(3), 0, 60));
  await until(() => seen.length === 3);
  assertEquals(seen[0].meta, { ...GSO, gsoType: 0, gsoSize: 0 });
  assertEquals(seen[1].meta, newFrameOffload());
  assertEquals(seen[2].meta?.flags, VNET_F_DATA_VALID);
  b.close();
  await done;
});

Deno.test("memory offload: a super-frame passes only with a GSO type, up to 65535 + 18", async () => {
  const [a, b] = createMemoryPair({ offload: true, queueLength: 8 });
  const tx = a.txOffload as FrameOffload;
  const seen: Seen[] = [];
  const done = b.run(recorder(b.rxOffload, seen));
  const big = frame(9, 20000);
  assert(!a.send(big, 0, big.length), "longer than mtu + 18 without GSO: dropped");
  assertEquals(a.stats.txDropped, 1);
  Object.assign(tx, GSO);
  assert(a.send(big, 0, big.length));
  assertEquals(tx.gsoType, 0, "reset after the send");
  Object.assign(tx, GSO);
  const max = frame(10, MAX_GSO_FRAME);
  assert(a.send(max, 0, max.length));
  Object.assign(tx, GSO);
  assert(!a.send(frame(11, MAX_GSO_FRAME + 1), 0, MAX_GSO_FRAME + 1));
  assertEquals(tx.gsoType, 0, "reset after a dropped send too");
  await until(() => seen.length === 2);
  assertEquals(seen.map((s) => [s.id, s.len]), [[9, 20000], [10, MAX_GSO_FRAME]]);
  assertEquals(seen[0].meta, GSO);
  b.close();
  await done;
});

Deno.test("memory offload: a device without offloads never gets a super-frame", () => {
  const a = createMemoryDevice({ offload: true });
  const b = createMemoryDevice();
  assertEquals(b.rxOffload, undefined);
  assertEquals(b.txOffload, undefined);
  // Joined by hand: an offload sender, a plain receiver.
  MemoryDevice.connect(a, b);
  Object.assign(a.txOffload as FrameOffload, GSO);
  const big = frame(1, 5000);
  assert(!a.send(big, 0, big.length));
  assertEquals(b.queued, 0);
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
  Object.assign(a.txOffload as FrameOffload, GSO);
  assert(a.send(big, 0, big.length));
  assert(a.send(frame(6), 0, 60));
  assertEquals(a.takeSent().length, 2);
  assertEquals(a.takeSentOffload(), [GSO, newFrameOffload()]);
  a.close();
  await done;
});

Deno.test("pcap wrapper: exposes the inner device's metadata objects", () => {
  const inner = createMemoryDevice({ offload: true });
  const sink: PcapSink = { writeSync: (p) => p.length, close() {} };
  const p = new PcapDevice(inner, new PcapWriter(sink));
  assert(p.rxOffload === inner.rxOffload && p.txOffload === inner.txOffload);
  Object.assign(p.txOffload as FrameOffload, GSO);
  const big = frame(1, 3000);
  assert(p.send(big, 0, big.length), "the inner device sees the GSO type");
  assertEquals(inner.txOffload, newFrameOffload());
});

Deno.test("impairment: metadata follows delayed and reordered frames, both directions", async () => {
  const [ma, mb] = createMemoryPair({ offload: true, queueLength: 16 });
  const a = new ImpairedDevice(ma, {
    loss: 0,
    reorder: 0.5,
    duplicate: 0,
    delayMs: 15,
    jitterMs: 10,
    seed: 3,
    limit: 16,
  });
  assert(a.txOffload !== undefined && a.txOffload !== ma.txOffload);
  const atB: Seen[] = [];
  const atA: Seen[] = [];
  const runs = [mb.run(recorder(mb.rxOffload, atB)), a.run(recorder(a.rxOffload, atA))];
  try {
    const metaFor = (id: number): FrameOffload =>
      id % 2 === 0 ? { ...GSO, gsoSize: 1000 + id } : newFrameOffload();
    for (let id = 0; id < 8; id++) {
      Object.assign(a.txOffload, metaFor(id));
      const f = frame(id, id % 2 === 0 ? 4000 : 60);
      assert(a.send(f, 0, f.length));
      assertEquals(a.txOffload, newFrameOffload(), "reset by every send");
      Object.assign(mb.txOffload as FrameOffload, metaFor(id));
      assert(mb.send(f, 0, f.length));
    }
    await until(() => atB.length === 8 && atA.length === 8);
    for (const s of [...atA, ...atB]) {
      assertEquals(s.meta, metaFor(s.id), `frame ${s.id}`);
      assertEquals(s.len, s.id % 2 === 0 ? 4000 : 60);
    }
    assert(a.impairStats.txDelayed + a.impairStats.rxDelayed >= 8, "frames went through the pool");
  } finally {
    a.close();
    mb.close();
    await Promise.all(runs);
  }
});
