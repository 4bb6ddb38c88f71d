/**
 * Black-hole detection (RFC 4821): full-sized segments vanish and no ICMP says why; after three
 * timeouts in a row the segments shrink to 1024 bytes, the path MTU cache learns it, and a path
 * that still drops them halves them again.
 */
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer, REMOTE } from "./_peer.ts";

const NO_TS = { mss: 1460, ws: 7, sackPerm: true, ts: false };

/** Runs the clock through the next retransmission; returns the data sizes sent. */
function nextTimeout(p: Peer): number[] {
  const t0 = p.clock.now();
  for (let i = 0; i < 2000 && p.clock.now() - t0 < 130_000; i++) {
    p.advance(10);
    const sent = p.take().filter((s) => s.data!.length > 0);
    if (sent.length > 0) return sent.map((s) => s.data!.length);
  }
  return [];
}

Deno.test("a black hole: after three timeouts 1024-byte segments, learned for the path", async () => {
  const p = new Peer({ tlp: false });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(20_000));
    assertEquals(p.take()[0].data!.length, 1460);
    assertEquals(nextTimeout(p), [1460]);
    assertEquals(nextTimeout(p), [1460]);
    assertEquals(nextTimeout(p), [1024], "the third timeout: the base size");
    assertEquals(p.stack.counters.get("tcp.black_hole_detected"), 1);
    assertEquals(p.stack.pmtu.get(REMOTE), 1064, "the cache holds it for new connections");
    assertEquals(nextTimeout(p), [536], "still dropped: halved, but not below 536");
    // The small segment gets through: the connection goes on at that size.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 536,
      flags: ACK,
      win: 65535,
    });
    const more = p.take().filter((s) => s.data!.length > 0);
    assert(more.length > 0 && more.every((s) => s.data!.length <= 536), JSON.stringify(more));
  } finally {
    p.close();
  }
});

Deno.test("mtuProbing: false keeps the size through any number of timeouts", async () => {
  const p = new Peer({ tlp: false, mtuProbing: false });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(5_000));
    p.take();
    for (let i = 0; i < 4; i++) assertEquals(nextTimeout(p), [1460]);
    assertEquals(p.stack.counters.get("tcp.black_hole_detected") ?? 0, 0);
  } finally {
    p.close();
  }
});
