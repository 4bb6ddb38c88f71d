/**
 * Bad input is data: random segments (valid checksums, random flags, sequence and
 * acknowledgment numbers, windows, options, lengths) thrown at listeners and live connections
 * never throw out of the stack, and a connection still works afterwards.
 */
import fc from "fast-check";
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, buildFrame, Peer } from "./_peer.ts";

Deno.test("random segments never throw and leave the stack working", async () => {
  const p = new Peer({ synBacklog: 4 });
  try {
    const o = await openPassive(p, { mss: 1460, ws: 7, sackPerm: true, ts: true });
    p.stack.listen({ port: 81 });
    const near = (base: number) =>
      fc.integer({ min: -70000, max: 70000 }).map((d) => (base + d) >>> 0);
    const seg = fc.record({
      sport: fc.constantFrom(40000, 40001, 5555),
      dport: fc.constantFrom(80, 81, 82),
      seq: fc.oneof(near(o.peerSeq), fc.nat()),
      ack: fc.oneof(near(o.localSeq), fc.nat()),
      flags: fc.integer({ min: 0, max: 255 }),
      win: fc.integer({ min: 0, max: 65535 }),
      mss: fc.option(fc.integer({ min: 0, max: 65535 }), { nil: undefined }),
      ws: fc.option(fc.integer({ min: 0, max: 255 }), { nil: undefined }),
      sackPerm: fc.boolean(),
      ts: fc.option(fc.tuple(fc.nat(), fc.nat()), { nil: undefined }),
      sack: fc.option(
        fc.array(fc.tuple(near(o.localSeq), near(o.localSeq)), { maxLength: 3 }),
        { nil: undefined },
      ),
      data: fc.option(fc.uint8Array({ maxLength: 1600 }), { nil: undefined }),
    });
    fc.assert(
      fc.property(seg, fc.integer({ min: 0, max: 3000 }), (s, dt) => {
        p.send(s);
        p.advance(dt);
        p.take();
        return true;
      }),
      { numRuns: 3000 },
    );
    // Raw garbage after the TCP header start too (bad offsets, truncated options).
    for (let i = 0; i < 500; i++) {
      const f = buildFrame(
        { sport: 40000, dport: 80, seq: 1, ack: 1, flags: ACK, win: 1 },
        p.dev.mac,
      );
      crypto.getRandomValues(f.subarray(46, 54));
      p.stack.input(f, 0, f.length);
    }
    assertEquals(p.stack.counters.get("drop.internal_error"), 0);
    // A fresh connection still completes.
    const c2 = p.stack.connect({ hostname: "10.0.0.2", port: 7777 });
    const syn = p.take().pop()!;
    p.send({
      sport: 7777,
      dport: syn.sport,
      seq: 1,
      ack: syn.seq + 1,
      flags: 0x12,
      win: 1000,
      mss: 1000,
    });
    const conn = await c2;
    assert(conn.tcb.opts.mss === 1000);
  } finally {
    p.close();
  }
});
