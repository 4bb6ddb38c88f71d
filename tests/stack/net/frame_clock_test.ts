/**
 * FrameClock: one reading of its source per frame, fresh readings outside frames, the
 * allocation-free read form, and a Stack that reads its clock once per received frame.
 */
import { assert, assertEquals } from "../../assert.ts";
import type { Clock } from "../../../stack/clock.ts";
import { FakeClock } from "../../../stack/clock.ts";
import { FrameClock, frameClockOf } from "../../../stack/net/frame_clock.ts";
import { createMemoryDevice } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { concat, eth, icmpEcho, ipv4, mac } from "./_frames.ts";

/** A clock that moves 0.25 ms at every read and counts the reads. */
class TickingClock implements Clock {
  reads = 0;
  #t = 1_000.5;
  now(): number {
    this.reads++;
    this.#t += 0.25;
    return this.#t;
  }
}

Deno.test("FrameClock: one source read per frame, on first use; every read outside frames", () => {
  const src = new TickingClock();
  const c = new FrameClock(src);
  assertEquals(c.now(), 1_000.75);
  assertEquals(c.now(), 1_001, "outside a frame every call reads the source");
  assertEquals(src.reads, 2);

  c.beginFrame();
  assertEquals(src.reads, 2, "beginFrame itself reads nothing");
  assertEquals(c.now(), 1_001.25);
  assertEquals(c.now(), 1_001.25);
  assert(c.fresh);
  assertEquals(c.time[0], 1_001.25);
  c.endFrame();
  assertEquals(src.reads, 3, "one read for the whole frame");
  assert(!c.fresh);

  c.beginFrame();
  assert(!c.fresh, "a new frame starts without a reading");
  assertEquals(c.now(), 1_001.5);
  c.endFrame();
  assertEquals(c.now(), 1_001.75, "after the frame, reads are fresh again");
  assertEquals(src.reads, 5);
});

Deno.test("FrameClock: the allocation-free form reads through time[0]", () => {
  const src = new TickingClock();
  const c = new FrameClock(src);
  c.beginFrame();
  if (!c.fresh) c.read();
  const a = c.time[0];
  if (!c.fresh) c.read();
  assertEquals(c.time[0], a);
  assertEquals(src.reads, 1);
  c.endFrame();
  // Outside a frame read() does not make the reading stick.
  c.read();
  assert(!c.fresh);
  assertEquals(c.time[0], a + 0.25);
});

Deno.test("FrameClock: a nested beginFrame starts a fresh reading; endFrame is idempotent", () => {
  const src = new TickingClock();
  const c = new FrameClock(src);
  c.beginFrame();
  const first = c.now();
  c.beginFrame();
  assert(c.now() > first);
  c.endFrame();
  c.endFrame();
  assertEquals(src.reads, 2);
  c.now();
  assertEquals(src.reads, 3);
});

Deno.test("frameClockOf: a FrameClock as is, any other clock wrapped and always read", () => {
  const fc = new FrameClock(new FakeClock(5));
  assert(frameClockOf(fc) === fc);
  const fake = new FakeClock(10);
  const w = frameClockOf(fake);
  assert(w !== (fake as unknown));
  assertEquals(w.now(), 10);
  fake.advance(2.5);
  assertEquals(w.now(), 12.5, "no frame, so the wrapped clock is read every time");
  assert(w.source === fake);
});

Deno.test("Stack: a received frame reads the clock at most once; the stack's clock is fresh outside", () => {
  const src = new TickingClock();
  const device = createMemoryDevice({ mac: mac("02:00:00:00:00:01"), capture: true });
  const LB = 0x0a000001;
  const PEER = 0x0a000002;
  const peerMac = mac("02:00:00:00:00:02");
  const stack = new Stack({ device, address: LB, prefix: 24, clock: src });
  stack.arp.addStatic(PEER, peerMac);
  // An echo request to us: IPv4 input, ICMP, the reply's route and ARP lookup (which marks the
  // entry used with the time) all in one frame.
  const ping = concat(
    eth(device.mac, peerMac, 0x0800),
    ipv4({ src: PEER, dst: LB, protocol: 1 }, icmpEcho(8, 7, 1, new Uint8Array(8))),
  );
  const buf = concat(new Uint8Array(2), ping);
  const before = src.reads;
  stack.input(buf, 2, ping.length);
  assertEquals(device.takeSent().length, 1, "the echo reply went out");
  assert(src.reads - before <= 1, `${src.reads - before} reads for one frame`);
  const r = src.reads;
  stack.clock.now();
  stack.clock.now();
  assertEquals(src.reads, r + 2, "outside a frame every read is fresh");
});
