/**
 * The send side against hand-built ACKs: Nagle and noDelay (RFC 1122 4.2.3.4), the peer's
 * window and window scaling, the initial window (RFC 6928), fast retransmit with NewReno
 * (RFC 5681 3.2, RFC 6582) and with SACK (RFC 6675), limited transmit (RFC 3042), payload cut
 * for SACK option bytes.
 */
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer } from "./_peer.ts";

const NO_TS = { mss: 1460, ws: 7, sackPerm: true, ts: false };

Deno.test("Nagle: small writes wait for the ACK; setNoDelay sends them at once", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array([1]));
    assertEquals(p.one().data!.length, 1, "nothing outstanding: sent");
    await o.conn.write(new Uint8Array([2]));
    await o.conn.write(new Uint8Array([3]));
    assertEquals(p.take().length, 0, "held while the first byte is unacknowledged");
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq + 1, flags: ACK, win: 1000 });
    assertEquals([...p.one().data!], [2, 3], "coalesced");
    o.conn.setNoDelay(true);
    await o.conn.write(new Uint8Array([4]));
    await o.conn.write(new Uint8Array([5]));
    assertEquals(p.take().map((s) => [...s.data!]), [[4], [5]]);
  } finally {
    p.close();
  }
});

Deno.test("the initial window is 10 segments and the peer's scaled window limits it", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(100_000));
    const sent = p.take();
    assertEquals(sent.length, 10, "IW = min(10 MSS, max(2 MSS, 14600)) = 10 x 1460");
    assert(sent.every((s) => s.data!.length === 1460));
    // Window 3 << 7 = 384 bytes from the new ACK point; nothing more than that is sent.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 14600,
      flags: ACK,
      win: 3,
    });
    const more = p.take();
    assertEquals(more.reduce((n, s) => n + s.data!.length, 0), 0, "SWS: 384 < MSS, wait");
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 14600,
      flags: ACK,
      win: 40,
    });
    const w = p.take();
    // 40 << 7 = 5120 bytes: three full segments fit, the 740-byte rest waits (sender SWS).
    assertEquals(w.map((s) => s.data!.length), [1460, 1460, 1460]);
  } finally {
    p.close();
  }
});

async function lossSetup(
  sack: boolean,
  congestion: "cubic" | "newreno",
  recovery: "rack" | "rfc6675" = "rfc6675",
) {
  const p = new Peer({ congestion, recovery });
  const o = await openPassive(p, { mss: 1000, ws: 7, sackPerm: sack, ts: false });
  p.take();
  await o.conn.write(new Uint8Array(20_000));
  const sent = p.take();
  assertEquals(sent.length, 10);
  /** The peer's ACK of `ack` (default the stack's first byte) with SACK blocks `sack`. */
  const sackAck = (sack: [number, number][], ack = o.localSeq) =>
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack, flags: ACK, win: 65535, sack });
  return { p, o, sent, sackAck };
}

Deno.test("NewReno: three duplicate ACKs retransmit the hole; a partial ACK the next one", async () => {
  const { p, o } = await lossSetup(false, "newreno");
  try {
    const una = o.localSeq;
    // The same window as before: a changed window would not make a duplicate (RFC 5681 2).
    const dup = { sport: 40000, dport: 80, seq: o.peerSeq, ack: una, flags: ACK, win: 65535 };
    // Segments 0 and 2 lost: the peer ACKs `una` for segments 1, 3, 4 ...
    p.send(dup);
    const lt1 = p.take();
    assertEquals(lt1.length, 1, "RFC 3042: limited transmit sends one new segment");
    assertEquals(lt1[0].seq, una + 10_000);
    p.send(dup);
    assertEquals(p.take().length, 1);
    p.send(dup);
    const fr = p.take();
    assertEquals(fr[0].seq, una, "fast retransmit of the first hole");
    assertEquals(fr[0].data!.length, 1000);
    const t = o.conn.tcb;
    assert(t.recovery.active);
    // ssthresh = max(FlightSize / 2, 2 SMSS) = 6000 (12 segments out); cwnd = ssthresh + 3 SMSS.
    assertEquals(t.cong.ssthresh, 6000);
    // Partial ACK (segment 0 arrived, 2 still missing): retransmit segment 2 at once.
    p.send({ ...dup, ack: una + 2000 });
    const pa = p.take();
    assertEquals(pa[0].seq, una + 2000);
    assert(t.recovery.active);
    // Full ACK: recovery ends, cwnd deflates to at most ssthresh.
    p.send({ ...dup, ack: t.snd.max });
    assert(!t.recovery.active);
    assert(t.cong.cwnd <= t.cong.ssthresh);
    assertEquals(p.stack.counters.get("tcp.fast_retransmits"), 1);
  } finally {
    p.close();
  }
});

Deno.test("SACK recovery (RFC 6675): holes below SACKed data are retransmitted, not more", async () => {
  const { p, o, sackAck: ack } = await lossSetup(true, "cubic");
  try {
    const una = o.localSeq;
    const t = o.conn.tcb;
    // Segments 0 and 2 lost; 1, 3, 4, 5 SACKed one after another.
    ack([[una + 1000, una + 2000]]);
    ack([[una + 3000, una + 4000], [una + 1000, una + 2000]]);
    assert(!t.recovery.active, "2 SACKed segments above SND.UNA are not yet a loss");
    ack([[una + 3000, una + 5000], [una + 1000, una + 2000]]);
    // IsLost(SND.UNA): 3000 SACKed octets above it, more than (DupThresh - 1) * SMSS.
    assert(t.recovery.active, "entered recovery");
    // CUBIC: ssthresh = 0.7 * cwnd (10 segments of 1000).
    assertEquals(t.cong.ssthresh, 7000);
    // The pipe (RFC 6675 SetPipe) is full at cwnd: more SACKs must drain it first.
    ack([[una + 3000, una + 6000], [una + 1000, una + 2000]]);
    ack([[una + 3000, una + 9000], [una + 1000, una + 2000]]);
    // Segment 2 has six SACKed segments above it: lost, and the pipe has room now.
    const rx = p.take().filter((s) => s.seq - una < 10_000);
    const seqs = rx.map((s) => s.seq - una);
    assert(seqs.includes(0), `retransmitted segment 0: ${seqs}`);
    assert(seqs.includes(2000), `retransmitted segment 2: ${seqs}`);
    assert(!seqs.includes(1000) && !seqs.includes(3000), `no SACKed data resent: ${seqs}`);
    // Everything acknowledged: recovery ends.
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: t.snd.max, flags: ACK, win: 65535 });
    assert(!t.recovery.active);
    assertEquals(t.sacks.count, 0);
  } finally {
    p.close();
  }
});

Deno.test("segments shrink to leave room for SACK blocks within the MSS (RFC 6691)", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    // Out-of-order data from the peer: our segments now carry a SACK block (12 bytes).
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 100,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array(10),
    });
    p.take();
    await o.conn.write(new Uint8Array(5000));
    const sent = p.take();
    assert(sent.length > 0);
    for (const s of sent) {
      assert(s.hl! - 20 + s.data!.length <= 1460, `options + data within the MSS: ${s.hl}`);
    }
    assertEquals(sent[0].sack?.length, 1);
  } finally {
    p.close();
  }
});

Deno.test("a lost retransmission is found when data sent after it is SACKed (RACK's rule)", async () => {
  const { p, o, sackAck: ack } = await lossSetup(true, "cubic");
  try {
    const una = o.localSeq;
    const t = o.conn.tcb;
    // Segment 0 lost; 1..9 SACKed: recovery, segment 0 retransmitted, new data follows.
    for (let k = 2; k <= 10; k++) ack([[una + 1000, una + k * 1000]]);
    assert(t.recovery.active);
    let out = p.take();
    assertEquals(out.filter((s) => s.seq === una).length, 1, "one retransmission of segment 0");
    const newData = out.filter((s) => s.seq - una >= 10_000).map((s) => s.seq - una);
    assert(newData.length >= 3, `new data sent after the retransmission: ${newData}`);
    // The new data arrives (SACKed); the retransmission of segment 0 does not.
    const top = una + Math.max(...newData) + 1000;
    ack([[una + 1000, top]]);
    out = p.take();
    assertEquals(
      out.filter((s) => s.seq === una).length,
      1,
      "segment 0 retransmitted again, without waiting for the timer",
    );
    assertEquals(p.stack.counters.get("tcp.lost_retransmits"), 1);
    assertEquals(p.stack.counters.get("tcp.rto_expired") ?? 0, 0);
  } finally {
    p.close();
  }
});

Deno.test("an ACK that moves SND.UNA and shows the next hole lost starts recovery at once", async () => {
  const { p, o, sackAck } = await lossSetup(true, "cubic");
  try {
    const una = o.localSeq;
    const t = o.conn.tcb;
    // Segment 0 arrives; 1 and 2 do not; 3, 4 and 5 are SACKed, all in one ACK. No duplicate
    // ACK follows it: without this rule only the retransmission timer would end the wait.
    sackAck([[una + 3000, una + 6000]], una + 1000);
    assert(t.recovery.active, "IsLost(SND.UNA): 3000 octets SACKed above it");
    const rx = p.take().filter((s) => s.seq - una < 10_000).map((s) => s.seq - una);
    assert(rx.includes(1000), `the hole at SND.UNA is retransmitted: ${rx}`);
    assertEquals(p.stack.counters.get("tcp.fast_retransmits"), 1);
  } finally {
    p.close();
  }
});
