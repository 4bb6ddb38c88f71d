/** The receive buffer: in-order and out-of-order storage, SACK blocks, growth, wrap. */
import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import { RecvBuffer } from "../../../stack/tcp/recv_buffer.ts";

function bytes(seq: number, n: number): Uint8Array {
  return new Uint8Array(n).map((_, i) => ((seq + i) * 7) & 0xff);
}

Deno.test("out-of-order ranges become readable when the gap fills; SACK blocks by recency", () => {
  const r = new RecvBuffer(1 << 16, 8, 1024);
  let nxt = 5000;
  assertEquals(r.store(5100, nxt, bytes(5100, 50), 0, 50), 0);
  assertEquals(r.store(5300, nxt, bytes(5300, 50), 0, 50), 0);
  const blocks = new Uint32Array(8);
  assertEquals(r.sackBlocks(blocks, 4), 2);
  assertEquals([...blocks.subarray(0, 4)], [5300, 5350, 5100, 5150]);
  assertEquals(r.store(5140, nxt, bytes(5140, 30), 0, 30), 0); // extends 5100..5170
  assertEquals(r.sackBlocks(blocks, 4), 2);
  assertEquals([...blocks.subarray(0, 2)], [5100, 5170]);
  const adv = r.store(5000, nxt, bytes(5000, 100), 0, 100);
  assertEquals(adv, 170);
  nxt += adv;
  assertEquals(r.len, 170);
  assertEquals(r.oooCount, 1);
  const out = new Uint8Array(170);
  assertEquals(r.read(out, 0, 170), 170);
  assertEquals(out, bytes(5000, 170));
});

Deno.test("a full range list keeps only data that merges", () => {
  const r = new RecvBuffer(1 << 16, 2, 1024);
  assertEquals(r.store(100, 0, bytes(100, 10), 0, 10), 0);
  assertEquals(r.store(200, 0, bytes(200, 10), 0, 10), 0);
  assertEquals(r.store(300, 0, bytes(300, 10), 0, 10), -1, "a third hole is refused");
  assertEquals(r.store(110, 0, bytes(110, 10), 0, 10), 0, "touching an existing range is fine");
  assertEquals(r.oooCount, 2);
});

Deno.test("property: any arrival order reassembles the stream, across ring wrap and growth", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.nat(3000), fc.integer({ min: 1, max: 300 })), {
        minLength: 1,
        maxLength: 40,
      }),
      fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 10 }),
      (segs, reads) => {
        const total = 3300;
        const r = new RecvBuffer(4096, 64, 512);
        const start = 0xfffff000; // sequence numbers wrap inside the stream
        let nxt = start;
        const out: number[] = [];
        const drain = (n: number) => {
          const b = new Uint8Array(n);
          const k = r.read(b, 0, n);
          for (let i = 0; i < k; i++) out.push(b[i]);
        };
        const deliver = (off: number, len: number) => {
          // Trim to [nxt, nxt + free) like the state machine does.
          let rel = (start + off - nxt) | 0;
          let o = off;
          let l = len;
          if (rel < 0) {
            o -= rel;
            l += rel;
            rel = 0;
          }
          if (l <= 0) return;
          if (rel + l > r.free) l = r.free - rel;
          if (l <= 0) return;
          const seq = (start + o) >>> 0;
          const adv = r.store(seq, nxt, bytes(o, l), 0, l);
          if (adv > 0) nxt = (nxt + adv) >>> 0;
        };
        let ri = 0;
        for (const [off, len] of segs) {
          deliver(off, Math.min(len, total - off));
          if (ri < reads.length) drain(reads[ri++]);
        }
        // Then everything in order, as retransmissions would bring it.
        for (let off = 0; off < total; off += 500) {
          deliver(off, Math.min(500, total - off));
          drain(4096);
        }
        drain(4096);
        assertEquals(out.length, total);
        assert(out.every((v, i) => v === ((i * 7) & 0xff)), "stream intact");
      },
    ),
    { numRuns: 200 },
  );
});
