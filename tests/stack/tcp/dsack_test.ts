/**
 * The receiver's side of SACK under loss: duplicates are reported as DSACKs (RFC 2883), and a
 * burst that opens several out-of-order ranges gets an ACK per range, so every SACK block reaches
 * the sender (an ACK carries three at most with timestamps).
 */
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer, type Seg } from "./_peer.ts";

async function receiving() {
  const p = new Peer();
  const o = await openPassive(p, { mss: 1000, ws: 7, sackPerm: true, ts: true });
  p.take();
  /** A 1000-byte data segment from the peer at offset `k` * 1000. */
  const data = (k: number): Seg => ({
    sport: 40000,
    dport: 80,
    seq: o.peerSeq + k * 1000,
    ack: o.localSeq,
    flags: ACK,
    win: 65535,
    ts: [200 + k, 0],
    data: new Uint8Array(1000),
  });
  const rel = (b: [number, number]) => [b[0] - o.peerSeq, b[1] - o.peerSeq];
  return { p, o, data, rel };
}

Deno.test("DSACK: data received twice is reported in the next ACK's first block", async () => {
  const { p, data, rel } = await receiving();
  try {
    p.send(data(0));
    p.send(data(1));
    p.take();
    p.send(data(0)); // a retransmission of data already held
    const ack = p.one();
    assertEquals(ack.sack?.map(rel), [[0, 1000]], "below the cumulative ACK: a DSACK");
    assertEquals(p.stack.counters.get("tcp.dsacks_sent"), 1);
    // Reported once: the next ACK has no block.
    p.send(data(2));
    p.advance(50);
    const next = p.take().filter((s) => s.sack !== undefined);
    assertEquals(next, []);
  } finally {
    p.close();
  }
});

Deno.test("DSACK: a duplicate beside out-of-order data comes first, then the SACK blocks", async () => {
  const { p, data, rel } = await receiving();
  try {
    p.send(data(0));
    p.send(data(2)); // segment 1 missing
    p.take();
    p.send(data(0));
    const ack = p.one();
    assertEquals(ack.sack?.map(rel), [[0, 1000], [2000, 3000]]);
  } finally {
    p.close();
  }
});

Deno.test("a burst opening several out-of-order ranges: every range is reported", async () => {
  const { p, data, rel } = await receiving();
  try {
    // Segments 0, 2, 4, 6 and 8 lost: five ranges open in one burst.
    p.sendBurst([1, 3, 5, 7, 9].map(data));
    const acks = p.take();
    const reported = new Set(acks.flatMap((a) => (a.sack ?? []).map((b) => rel(b)[0])));
    for (const k of [1, 3, 5, 7, 9]) {
      assert(
        reported.has(k * 1000),
        `range at ${k * 1000} reported: ${JSON.stringify([...reported])}`,
      );
    }
    assert(acks.length < 5 + 1, `an ACK per new range at most: ${acks.length}`);
    // A burst that only extends one range gets one ACK.
    p.sendBurst([10, 11, 12].map(data));
    assertEquals(p.take().length, 1);
  } finally {
    p.close();
  }
});
