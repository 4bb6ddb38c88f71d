import assert from "node:assert/strict";
import { Counters } from "../../../stack/net/counters.ts";
import {
  type FragmentHeader,
  Reassembler,
  REASSEMBLY_HEADROOM,
} from "../../../stack/net/reassembly.ts";
import { readU16, writeU16, writeU32 } from "../../../stack/wire/bytes.ts";
import { internetChecksum } from "../../../stack/wire/checksum.ts";

const SRC = 0x0a000001;
const DST = 0x0a000002;

/** The datagram payload used throughout: byte i is i mod 251 (so misplaced bytes show). */
function payload(len: number): Uint8Array {
  const p = new Uint8Array(len);
  for (let i = 0; i < len; i++) p[i] = i % 251;
  return p;
}

/** A fragment as bytes plus the header fields reassembly reads. */
function fragment(
  data: Uint8Array,
  offset: number,
  len: number,
  mf: boolean,
  id = 7,
  options: number[] = [],
): { buf: Uint8Array; h: FragmentHeader } {
  const hl = 20 + options.length;
  const buf = new Uint8Array(hl + len);
  buf[0] = 0x40 | (hl >> 2);
  writeU16(buf, 2, hl + len);
  writeU16(buf, 4, id);
  writeU16(buf, 6, (mf ? 0x2000 : 0) | (offset >> 3));
  buf[8] = 64;
  buf[9] = 17;
  writeU32(buf, 12, SRC);
  writeU32(buf, 16, DST);
  buf.set(options, 20);
  writeU16(buf, 10, internetChecksum(buf, 0, hl));
  buf.set(data.subarray(offset, offset + len), hl);
  const h: FragmentHeader = {
    src: SRC,
    dst: DST,
    protocol: 17,
    id,
    headerLen: hl,
    fragmentOffset: offset,
    moreFragments: mf,
    payloadLen: len,
  };
  return { buf, h };
}

function setup(options = {}) {
  const counters = new Counters();
  return { counters, r: new Reassembler(counters, options) };
}

function assertDatagram(r: Reassembler, data: Uint8Array, hl = 20): void {
  const b = r.outBuf;
  const off = r.outOff;
  assert.ok(off >= REASSEMBLY_HEADROOM);
  assert.equal(r.outLen, hl + data.length);
  assert.equal(readU16(b, off + 2), hl + data.length, "total length rewritten");
  assert.equal(readU16(b, off + 6), 0, "MF and offset cleared");
  assert.equal(internetChecksum(b, off, hl), 0, "header checksum valid");
  assert.deepEqual(b.subarray(off + hl, off + hl + data.length), data);
}

Deno.test("Reassembler: in order", () => {
  const { r, counters } = setup();
  const data = payload(3000);
  assert.ok(!r.add(fragment(data, 0, 1480, true).buf, 0, fragment(data, 0, 1480, true).h, 0));
  const f2 = fragment(data, 1480, 1480, true);
  assert.ok(!r.add(f2.buf, 0, f2.h, 1));
  const f3 = fragment(data, 2960, 40, false);
  assert.ok(r.add(f3.buf, 0, f3.h, 2));
  assertDatagram(r, data);
  assert.equal(counters.get("ipv4.frag_held"), 2);
  assert.equal(counters.get("ipv4.reassembled"), 1);
  assert.equal(r.inProgress, 0);
  assert.equal(r.bytesHeld, 0);
});

Deno.test("Reassembler: out of order, at an offset inside a larger buffer", () => {
  const { r } = setup();
  const data = payload(2000);
  const pieces = [fragment(data, 1600, 400, false), fragment(data, 800, 800, true)];
  const first = fragment(data, 0, 800, true);
  for (const p of pieces) {
    const big = new Uint8Array(p.buf.length + 30);
    big.set(p.buf, 30);
    assert.ok(!r.add(big, 30, p.h, 0));
  }
  assert.ok(r.add(first.buf, 0, first.h, 0));
  assertDatagram(r, data);
});

Deno.test("Reassembler: first fragment's header (with options) becomes the datagram's", () => {
  const { r } = setup();
  const data = payload(64);
  const opts = [1, 1, 1, 1]; // four NOPs
  const a = fragment(data, 0, 32, true, 7, opts);
  const b = fragment(data, 32, 32, false);
  assert.ok(!r.add(b.buf, 0, b.h, 0));
  assert.ok(r.add(a.buf, 0, a.h, 0));
  assertDatagram(r, data, 24);
  assert.deepEqual([...r.outBuf.subarray(r.outOff + 20, r.outOff + 24)], opts);
});

Deno.test("Reassembler: exact duplicate ignored, data of the first copy kept", () => {
  const { r, counters } = setup();
  const data = payload(48);
  const a = fragment(data, 0, 24, true);
  const dup = fragment(data, 0, 24, true);
  dup.buf[dup.h.headerLen] = 0xee; // different bytes, same range
  assert.ok(!r.add(a.buf, 0, a.h, 0));
  assert.ok(!r.add(dup.buf, 0, dup.h, 0));
  assert.equal(counters.get("ipv4.frag_duplicate"), 1);
  const b = fragment(data, 24, 24, false);
  assert.ok(r.add(b.buf, 0, b.h, 0));
  assertDatagram(r, data);
});

Deno.test("Reassembler: overlap drops the datagram and later fragments of it", () => {
  const { r, counters } = setup();
  const data = payload(64);
  const a = fragment(data, 0, 32, true);
  const over = fragment(data, 24, 16, true); // 24..40 overlaps 0..32
  const rest1 = fragment(data, 32, 16, true);
  const rest2 = fragment(data, 48, 16, false);
  assert.ok(!r.add(a.buf, 0, a.h, 0));
  assert.ok(!r.add(over.buf, 0, over.h, 0));
  assert.equal(counters.get("drop.frag_overlap"), 1);
  assert.equal(r.bytesHeld, 0, "data freed at once");
  assert.ok(!r.add(rest1.buf, 0, rest1.h, 0));
  assert.ok(!r.add(rest2.buf, 0, rest2.h, 0));
  assert.ok(!r.add(a.buf, 0, a.h, 0));
  assert.equal(counters.get("drop.frag_overlap"), 4);
  assert.equal(counters.get("ipv4.reassembled"), 0);
  // After the timeout the key is forgotten and a fresh datagram with that id goes through.
  r.sweep(30_000, () => assert.fail("no ICMP for a poisoned key"));
  assert.equal(counters.get("drop.frag_timeout"), 0);
  assert.ok(!r.add(a.buf, 0, a.h, 30_001));
  assert.ok(!r.add(rest1.buf, 0, rest1.h, 30_001));
  assert.ok(r.add(rest2.buf, 0, rest2.h, 30_001));
  assertDatagram(r, data);
});

Deno.test("Reassembler: a fragment wholly inside held bytes is a duplicate, ignored (Linux)", () => {
  // The example of a re-fragmenting path: bytes 512..768 after 0..1000, and inside a run of two
  // contiguous fragments; reassembly completes with the first copies' bytes.
  for (const held of [[[0, 1000]], [[0, 600], [600, 400]]]) {
    const { r, counters } = setup();
    const data = payload(1200);
    for (const [o, l] of held) {
      const f = fragment(data, o, l, true);
      assert.ok(!r.add(f.buf, 0, f.h, 0));
    }
    const dup = fragment(data, 512, 256, true);
    dup.buf[dup.h.headerLen] = 0xee; // different bytes inside the held range
    assert.ok(!r.add(dup.buf, 0, dup.h, 0));
    assert.equal(counters.get("ipv4.frag_duplicate"), 1);
    assert.equal(counters.get("drop.frag_overlap"), 0);
    const last = fragment(data, 1000, 200, false);
    assert.ok(r.add(last.buf, 0, last.h, 0));
    assertDatagram(r, data);
  }
});

Deno.test("Reassembler: overlap with the following fragment and partial containment", () => {
  for (const [o, l] of [[0, 16], [16, 16], [0, 32]]) {
    const { r, counters } = setup();
    const data = payload(64);
    const held = fragment(data, 8, 16, true); // 8..24
    assert.ok(!r.add(held.buf, 0, held.h, 0));
    const f = fragment(data, o, l, true);
    assert.ok(!r.add(f.buf, 0, f.h, 0));
    assert.equal(counters.get("drop.frag_overlap"), 1, `offset ${o} len ${l}`);
  }
});

Deno.test("Reassembler: timeout sends the first fragment's header and 8 bytes", () => {
  const { r, counters } = setup({ timeoutMs: 30_000 });
  const data = payload(100);
  const a = fragment(data, 0, 48, true);
  assert.ok(!r.add(a.buf, 0, a.h, 1000));
  const quoted: number[][] = [];
  r.sweep(30_999, (b, off, len) => quoted.push([...b.subarray(off, off + len)]));
  assert.equal(quoted.length, 0, "not yet");
  r.sweep(31_000, (b, off, len) => quoted.push([...b.subarray(off, off + len)]));
  assert.equal(counters.get("drop.frag_timeout"), 1);
  assert.deepEqual(quoted, [[...a.buf.subarray(0, 28)]]);
  assert.equal(r.inProgress, 0);
});

Deno.test("Reassembler: timeout without the first fragment sends nothing", () => {
  const { r, counters } = setup();
  const data = payload(100);
  const b = fragment(data, 48, 52, false);
  r.add(b.buf, 0, b.h, 0);
  let called = 0;
  r.sweep(60_000, () => called++);
  assert.equal(called, 0);
  assert.equal(counters.get("drop.frag_timeout"), 1);
});

Deno.test("Reassembler: bounds on datagrams, bytes, size and fragment length", () => {
  const { r, counters } = setup({ maxDatagrams: 2, maxBytes: 100 });
  const data = payload(200);
  for (let id = 1; id <= 3; id++) {
    const f = fragment(data, 0, 16, true, id);
    r.add(f.buf, 0, f.h, id);
  }
  // The table holds 2: the third datagram evicts the oldest (id 1), as Linux does under
  // pressure, rather than being refused while stale fragments block the table.
  assert.equal(counters.get("drop.frag_evicted"), 1);
  assert.equal(r.inProgress, 2);
  const big = fragment(data, 16, 80, true, 3);
  assert.ok(!r.add(big.buf, 0, big.h, 0));
  assert.equal(counters.get("drop.frag_no_memory"), 1);

  const odd = fragment(data, 0, 13, true, 9); // not a multiple of 8
  assert.ok(!r.add(odd.buf, 0, odd.h, 0));
  assert.equal(counters.get("drop.frag_bad_length"), 1);

  const huge = fragment(data, 0, 8, false, 10);
  const h: FragmentHeader = { ...huge.h, fragmentOffset: 65528 }; // 65528 + 8 + 20 > 65535
  assert.ok(!r.add(huge.buf, 0, h, 0));
  assert.equal(counters.get("drop.frag_oversize"), 1);
});

Deno.test("Reassembler: contradicting last fragments discard the datagram", () => {
  const { r, counters } = setup();
  const data = payload(64);
  const last = fragment(data, 32, 32, false);
  const other = fragment(data, 8, 8, false); // a second "last" ending elsewhere
  r.add(last.buf, 0, last.h, 0);
  assert.ok(!r.add(other.buf, 0, other.h, 0));
  assert.equal(counters.get("drop.frag_bad_length"), 1);
  assert.equal(r.inProgress, 0);
  const beyond = fragment(payload(128), 64, 16, true);
  r.add(last.buf, 0, last.h, 0);
  assert.ok(!r.add(beyond.buf, 0, beyond.h, 0), "data past the known end");
  assert.equal(counters.get("drop.frag_bad_length"), 2);
});

Deno.test("Reassembler: largest legal datagram (65535) reassembles", () => {
  const { r } = setup();
  const data = payload(65515);
  let off = 0;
  let done = false;
  while (off < data.length) {
    const len = Math.min(1480, data.length - off);
    const f = fragment(data, off, len, off + len < data.length);
    done = r.add(f.buf, 0, f.h, 0);
    off += len;
  }
  assert.ok(done);
  assertDatagram(r, data);
});
