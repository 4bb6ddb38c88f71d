/**
 * Undoing spurious fast recoveries with timestamps (RFC 3522 Eifel detection, RFC 4015 response):
 * reordering taken for a loss gets the window back and raises the connection's duplicate-ACK
 * threshold; a real loss keeps the reduction; a timeout is never undone. The segments are built by hand; the peer echoes TSvals as a receiver does (RFC 7323 3.4:
 * the TSval of the segment that advanced the left edge).
 */
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer, type Seg } from "./_peer.ts";

const TS = { mss: 1012, ws: 7, sackPerm: true, ts: true };

/** A connection with 10 segments of 1000 bytes in flight, sent 5 ms before "now". */
async function tenInFlight(options: Record<string, unknown> = {}) {
  const p = new Peer(options);
  const o = await openPassive(p, TS);
  p.take();
  await o.conn.write(new Uint8Array(10_000));
  const sent = p.take();
  assertEquals(sent.map((s) => s.data!.length), new Array(10).fill(1000));
  p.clock.advance(5);
  const una = o.localSeq;
  const ack = (a: number, sack: [number, number][], ecr: number, tsVal = 200): Seg => ({
    sport: 40000,
    dport: 80,
    seq: o.peerSeq,
    ack: a,
    flags: ACK,
    win: 65535,
    sack,
    ts: [tsVal, ecr],
  });
  return { p, o, sent, una, ack, t: o.conn.tcb };
}

Deno.test("reordering taken for a loss: the recovery is undone and the threshold raised", async () => {
  // The duplicate-ACK threshold is RFC 6675's; RACK's window is in rack_test.ts.
  const { p, sent, una, ack, t } = await tenInFlight({ recovery: "rfc6675" });
  try {
    const cwnd = t.cong.cwnd;
    const ts0 = sent[0].ts![0];
    // Segment 0 is late: 1..4 arrive first and are SACKed.
    for (let k = 2; k <= 5; k++) p.send(ack(una, [[una + 1000, una + k * 1000]], ts0));
    assert(t.recovery.active, "taken for a loss");
    const rx = p.take().find((s) => s.seq === una)!;
    assert(rx.ts![0] > ts0, "the retransmission carries a newer TSval");
    assert(t.cong.cwnd < cwnd);
    // Then segment 0 itself arrives: the cumulative ACK echoes its (older) TSval.
    p.send(ack(una + 5000, [], ts0));
    assert(!t.recovery.active);
    assertEquals(t.cong.cwnd, cwnd, "the window is back");
    assertEquals(p.stack.counters.get("tcp.spurious_recovery_undone"), 1);
    assertEquals(
      t.recovery.reordering,
      5,
      "four segments arrived before the late one: threshold 5",
    );
    assertEquals(t.sacks.dupThresh, 5);
  } finally {
    p.close();
  }
});

Deno.test("a real loss: the ACK echoes the retransmission's TSval, nothing is undone", async () => {
  const { p, sent, una, ack, t } = await tenInFlight();
  try {
    const ts0 = sent[0].ts![0];
    for (let k = 2; k <= 5; k++) p.send(ack(una, [[una + 1000, una + k * 1000]], ts0));
    const rx = p.take().find((s) => s.seq === una)!;
    const reduced = t.cong.ssthresh;
    // The retransmission filled the hole: its TSval is echoed.
    p.send(ack(una + 5000, [], rx.ts![0]));
    assertEquals(p.stack.counters.get("tcp.spurious_recovery_undone") ?? 0, 0);
    assertEquals(t.cong.ssthresh, reduced);
    assertEquals(t.recovery.reordering, 3);
  } finally {
    p.close();
  }
});

Deno.test("RFC 6675 recovery: a timeout is not undone, even when the original arrived", async () => {
  const { p, sent, una, ack, t } = await tenInFlight({ tlp: false, recovery: "rfc6675" });
  try {
    p.advance(t.rtt.rto);
    const rx = p.take();
    assertEquals(rx.map((s) => s.seq), [una], "the timeout resends the first segment");
    assertEquals(t.cong.cwnd, t.opts.mss);
    // The ACK of everything echoes the first transmission's TSval; the loss window stays (a
    // restored window into go-back-N turned rare timeouts into storms on an impaired link).
    p.send(ack(una + 10_000, [], sent[9].ts![0]));
    assertEquals(p.stack.counters.get("tcp.spurious_recovery_undone") ?? 0, 0);
    assert(t.cong.cwnd < 10 * t.opts.mss, `cwnd ${t.cong.cwnd}`);
  } finally {
    p.close();
  }
});

Deno.test("with undo off (tcp.undo false) reordering stays a loss, for comparison", async () => {
  const { p, sent, una, ack, t } = await tenInFlight({ undo: false });
  try {
    const ts0 = sent[0].ts![0];
    for (let k = 2; k <= 5; k++) p.send(ack(una, [[una + 1000, una + k * 1000]], ts0));
    const reduced = t.cong.ssthresh;
    p.send(ack(una + 5000, [], ts0));
    assertEquals(t.cong.ssthresh, reduced);
    assertEquals(p.stack.counters.get("tcp.spurious_recovery_undone") ?? 0, 0);
  } finally {
    p.close();
  }
});

Deno.test("without timestamps a DSACK of every retransmission undoes the recovery", async () => {
  for (const spurious of [true, false]) {
    const p = new Peer();
    try {
      const o = await openPassive(p, { mss: 1000, ws: 7, sackPerm: true, ts: false, rttMs: 20 });
      p.take();
      const t = o.conn.tcb;
      await o.conn.write(new Uint8Array(10_000));
      p.take();
      p.advance(20);
      const una = o.localSeq;
      const ack = (a: number, sack: [number, number][]) =>
        p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: a, flags: ACK, win: 65535, sack });
      const cwnd = t.cong.cwnd;
      for (let k = 2; k <= 4; k++) ack(una, [[una + 1000, una + k * 1000]]);
      assert(t.recovery.active);
      assert(p.take().some((s) => s.seq === una), "segment 0 retransmitted");
      const reduced = t.cong.cwnd;
      assert(reduced < cwnd);
      // Everything arrives; the receiver got segment 0 twice when the recovery was spurious.
      ack(una + 10_000, spurious ? [[una, una + 1000]] : []);
      if (spurious) {
        assertEquals(p.stack.counters.get("tcp.dsack_undo"), 1);
        // Back to the window before, and the same ACK's slow start on top of it.
        assert(t.cong.cwnd >= cwnd, `the window is back: ${t.cong.cwnd} >= ${cwnd}`);
      } else {
        assertEquals(p.stack.counters.get("tcp.dsack_undo") ?? 0, 0);
        assert(t.cong.cwnd <= reduced + 1000, `cwnd ${t.cong.cwnd}`);
      }
    } finally {
      p.close();
    }
  }
});

Deno.test("RACK: a spurious timeout is undone; what it marked lost is not resent", async () => {
  const { p, sent, una, ack, t } = await tenInFlight({ tlp: false });
  try {
    const cwnd = t.cong.cwnd;
    p.advance(t.rtt.rto);
    assertEquals(p.take().map((s) => s.seq), [una], "the timeout resends the first segment");
    assertEquals(t.cong.cwnd, t.opts.mss);
    // The ACK of everything echoes the first transmission's TSval: the originals all arrived.
    p.send(ack(una + 10_000, [], sent[9].ts![0]));
    assertEquals(p.stack.counters.get("tcp.spurious_rto_undone"), 1);
    assert(t.cong.cwnd >= cwnd, `the window is back: ${t.cong.cwnd}`);
    assertEquals(t.rack.segs.pendingBytes, 0, "nothing left marked lost");
    assertEquals(p.take().filter((s) => s.seq - una < 10_000 && s.data!.length > 0), []);
  } finally {
    p.close();
  }
});

Deno.test("RACK: a timeout the ACK shows real is not undone", async () => {
  const { p, una, ack, t } = await tenInFlight({ tlp: false });
  try {
    p.advance(t.rtt.rto);
    const rx = p.take().find((s) => s.seq === una)!;
    // The retransmission filled the hole: its TSval is echoed.
    p.send(ack(una + 1000, [], rx.ts![0]));
    assertEquals(p.stack.counters.get("tcp.spurious_rto_undone") ?? 0, 0);
    assert(t.cong.cwnd <= 2 * t.opts.mss, `cwnd ${t.cong.cwnd}`);
  } finally {
    p.close();
  }
});
