/**
 * RACK-TLP (RFC 8985) and PRR (RFC 6937) against a hand-driven peer: segments built by hand, the
 * clock moved by the test. The connection measures a 20 ms RTT in its handshake, so RACK's
 * reordering window is min_RTT / 4 = 5 ms and a probe timeout is 2 * SRTT + 2 ms.
 */
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer } from "./_peer.ts";

const RTT = 20;

/**
 * A RACK connection with `n` segments of 1000 bytes just sent (the initial window) and `unsent`
 * bytes more waiting in the send buffer.
 */
async function inFlight(n: number, options: Record<string, unknown> = {}, unsent = 0) {
  const p = new Peer({ initialCwnd: Math.max(n, 10), ...options });
  const o = await openPassive(p, { mss: 1000, ws: 7, sackPerm: true, ts: false, rttMs: RTT });
  p.take();
  await o.conn.write(new Uint8Array(n * 1000 + unsent));
  const sent = p.take();
  assertEquals(sent.length, n);
  const una = o.localSeq;
  const t = o.conn.tcb;
  assert(t.opts.rackOn, "RACK is the default on SACK connections");
  /** The peer's ACK of `ack` with SACK blocks (offsets from the first data byte). */
  const ack = (a: number, sack: [number, number][] = []) =>
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: una + a,
      flags: ACK,
      win: 65535,
      sack: sack.map(([l, r]) => [una + l, una + r] as [number, number]),
    });
  /** Offsets of the data segments the stack sent since the last call. */
  const sentNow = () => p.take().filter((s) => s.data!.length > 0).map((s) => s.seq - una);
  const count = (name: string) => p.stack.counters.get(name) ?? 0;
  return { p, o, t, una, ack, sentNow, count };
}

Deno.test("RACK: reordering within the window is not taken for a loss", async () => {
  const { p, t, ack, sentNow, count } = await inFlight(10);
  try {
    p.advance(RTT);
    ack(0, [[1000, 2000]]); // segment 1 overtook segment 0
    assertEquals(sentNow(), [], "not lost yet: sent 20 ms ago, RTT 20 ms + 5 ms window");
    p.advance(3);
    ack(2000); // segment 0 arrives within the window
    p.advance(20);
    assertEquals(sentNow(), [], "nothing retransmitted");
    assert(!t.recovery.active);
    assertEquals(count("tcp.fast_retransmits"), 0);
  } finally {
    p.close();
  }
});

Deno.test("RACK: past RTT + window the hole is lost, by the reordering timer", async () => {
  const { p, t, ack, sentNow, count } = await inFlight(10);
  try {
    p.advance(RTT);
    ack(0, [[1000, 2000]]);
    p.advance(3);
    assertEquals(sentNow(), [], "not before the window has passed");
    p.advance(10);
    assertEquals(sentNow(), [0], "the reordering timer found segment 0 lost");
    assert(t.recovery.active);
    assertEquals(count("tcp.rack_marked_lost"), 1);
    assertEquals(count("tcp.rto_expired"), 0);
  } finally {
    p.close();
  }
});

Deno.test("RACK: three SACKed segments above a hole need no window during recovery", async () => {
  const { p, t, ack, sentNow } = await inFlight(10);
  try {
    p.advance(RTT);
    ack(0, [[1000, 2000]]);
    ack(0, [[1000, 3000]]);
    assertEquals(sentNow(), []);
    // As many SACKed segments as the reordering estimate (3): the window is 0 until reordering
    // has been seen (RFC 8985 6.2 step 4), so the hole is lost now.
    ack(0, [[1000, 4000]]);
    assertEquals(sentNow(), [0]);
    assert(t.recovery.active);
  } finally {
    p.close();
  }
});

Deno.test("RACK: a DSACK widens the reordering window (RFC 8985 6.2 step 4)", async () => {
  const { p, o, t, una, ack, sentNow, count } = await inFlight(10);
  try {
    p.advance(RTT);
    ack(0, [[1000, 2000]]);
    p.advance(13);
    assertEquals(sentNow(), [0]);
    // Both copies of segment 0 arrived: everything is acknowledged and the first block reports
    // the duplicate (below the cumulative ACK: a DSACK, RFC 2883 4).
    ack(10_000, [[0, 1000]]);
    assertEquals(count("tcp.dsacks_received"), 1);
    assert(!t.recovery.active);
    assertEquals(t.rack.reoWndMult, 2);
    // The next hole waits twice as long: 2 * 20 / 4 = 10 ms past the RTT.
    await o.conn.write(new Uint8Array(4000));
    const next = sentNow();
    assert(next.length >= 2, `new data: ${next}`);
    p.advance(RTT);
    ack(10_000, [[next[0] + 1000, next[0] + 2000]]);
    p.advance(6);
    const resent = () => sentNow().filter((s) => next.includes(s));
    assertEquals(resent(), [], "a 5 ms window would have passed");
    p.advance(10);
    assertEquals(resent(), [next[0]]);
    assertEquals(una, o.localSeq);
  } finally {
    p.close();
  }
});

Deno.test("RACK: a lost retransmission is found by time, without the timer", async () => {
  const { p, t, ack, sentNow, count } = await inFlight(10, {}, 10_000);
  try {
    p.advance(RTT);
    ack(0, [[1000, 2000]]);
    const fresh = sentNow(); // limited transmit: one new segment (RFC 3042)
    p.advance(13);
    assertEquals(sentNow(), [0]);
    // The retransmission is lost too. SACKs go on; PRR lets more new data out.
    for (let k = 3; k <= 10 && fresh.length < 2; k++) {
      ack(0, [[1000, k * 1000]]);
      fresh.push(...sentNow().filter((s) => s >= 10_000));
    }
    assert(fresh.length >= 2, "new data sent during recovery");
    // The new data, sent after the retransmission, is SACKed one RTT later: the retransmission
    // of segment 0 (sent before it, an RTT ago) is lost.
    p.advance(RTT);
    ack(0, [[1000, fresh[fresh.length - 1] + 1000]]);
    assertEquals(sentNow().filter((s) => s === 0), [0], "segment 0 sent a third time");
    assertEquals(count("tcp.rto_expired"), 0);
    assert(t.recovery.active);
  } finally {
    p.close();
  }
});

Deno.test("PRR: during recovery sending follows delivery, about ssthresh / RecoverFS per ACK", async () => {
  const { p, t, ack, sentNow } = await inFlight(20, {}, 40_000);
  try {
    p.advance(RTT);
    const perAck: number[] = [];
    for (let k = 2; k <= 20; k++) {
      ack(0, [[1000, k * 1000]]);
      const sent = sentNow(); // before the recovery: limited transmit (RFC 3042)
      if (t.recovery.active) perAck.push(sent.length);
    }
    // CUBIC: ssthresh = 0.7 * 20 segments; RecoverFS = 20 segments.
    assertEquals(t.cong.ssthresh, 14_000);
    assertEquals(perAck[0], 1, "the fast retransmit goes at once");
    assert(perAck.every((n) => n <= 1), `no bursts: ${perAck}`);
    const total = perAck.reduce((a, b) => a + b, 0);
    // 17 ACKs delivered 17 segments during the recovery: about 0.7 * 17 = 11.9 may be sent.
    assert(total >= 11 && total <= 12, `sent ${total} for 17 delivered (${perAck})`);
    // RFC 6675 alone (cwnd = ssthresh at once) would send nothing until the pipe drained to 14
    // segments, then one per ACK.
  } finally {
    p.close();
  }
});

Deno.test("TLP: a lost tail is probed at 2 SRTT and recovered by RACK, not by the RTO", async () => {
  const { p, t, ack, sentNow, count } = await inFlight(3);
  try {
    p.advance(30);
    assertEquals(sentNow(), [], "not before the probe timeout (2 * 20 + 2 ms)");
    p.advance(30);
    assertEquals(sentNow(), [2000], "the probe: the last segment again");
    assertEquals(count("tcp.tlp_probes"), 1);
    // Only the probe arrived: its SACK, an RTT later, shows segments 0 and 1 lost.
    p.advance(RTT);
    ack(0, [[2000, 3000]]);
    assertEquals(sentNow(), [0, 1000]);
    assert(t.recovery.active);
    ack(3000);
    assert(!t.recovery.active);
    assertEquals(count("tcp.rto_expired"), 0);
  } finally {
    p.close();
  }
});

Deno.test("TLP: a probe that repaired a loss reduces the window once; a DSACKed one does not", async () => {
  for (const dsack of [false, true]) {
    const { p, o, t, ack, sentNow, count } = await inFlight(3);
    try {
      p.advance(RTT);
      ack(2000); // segment 2 is lost
      const cwnd = t.cong.cwnd;
      // One segment in flight: the probe waits for a delayed ACK too, capped by the RTO.
      p.advance(250);
      assertEquals(sentNow(), [2000]);
      assertEquals(count("tcp.rto_expired"), 0, "a probe, not a timeout");
      ack(3000, dsack ? [[2000, 3000]] : []);
      await o.conn.write(new Uint8Array(1000));
      assertEquals(sentNow(), [3000]);
      ack(4000);
      if (dsack) {
        assertEquals(count("tcp.tlp_spurious"), 1);
        assertEquals(count("tcp.tlp_recoveries"), 0);
        assert(t.cong.cwnd >= cwnd);
      } else {
        assertEquals(count("tcp.tlp_recoveries"), 1);
        assert(t.cong.ssthresh < cwnd, `ssthresh ${t.cong.ssthresh} after a repaired loss`);
      }
    } finally {
      p.close();
    }
  }
});

Deno.test("after a timeout RACK retransmits what is outstanding in order, skipping SACKed data", async () => {
  const { p, t, ack, sentNow, count } = await inFlight(6, { tlp: false });
  try {
    p.advance(RTT);
    ack(0, [[3000, 4000]]);
    p.advance(13);
    assertEquals(sentNow(), [0], "RACK: segments 0-2 lost; PRR sends the first");
    // Nothing more arrives: the timeout marks every segment not SACKed lost.
    p.advance(t.rtt.rto + 10);
    assertEquals(count("tcp.rto_expired"), 1);
    assertEquals(sentNow(), [0], "the loss window: one segment");
    ack(1000, [[3000, 4000]]);
    assertEquals(sentNow(), [1000, 2000], "slow start: two more, in order");
    ack(3000, [[3000, 4000]]);
    assertEquals(sentNow(), [4000, 5000], "segment 3 was SACKed: not resent");
    ack(6000);
    assertEquals(t.outstanding, 0);
  } finally {
    p.close();
  }
});
