/**
 * The state machine against hand-built segments (RFC 9293 3.10.7): handshakes both ways and
 * simultaneous open, data and ACK policy, out-of-order data with SACK, FIN in every closing
 * path (all eleven states), RST rules, RFC 5961 challenge ACKs, PAWS (RFC 7323 5).
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, FIN, Peer, PSH, RST, SYN } from "./_peer.ts";

const NO_TS = { mss: 1460, ws: 7, sackPerm: true, ts: false };

function stateOf(p: Peer, port = 40000): string {
  const row = p.stack.tcpSnapshot().find((r) => r.remote.endsWith(`:${port}`));
  return row?.state ?? "none";
}

Deno.test("passive open: SYN-ACK carries MSS, window scale, SACK-permitted, timestamps", async () => {
  const p = new Peer();
  try {
    const l = p.stack.listen({ port: 80 });
    p.send({
      sport: 40000,
      dport: 80,
      seq: 1000,
      ack: 0,
      flags: SYN,
      win: 65535,
      mss: 1400,
      ws: 7,
      sackPerm: true,
      ts: [555, 0],
    });
    const sa = p.one();
    assertEquals(sa.flags, SYN | ACK);
    assertEquals(sa.ack, 1001);
    assertEquals(sa.mss, 1460); // our MTU 1500 - 40
    assertEquals(sa.ws, 5); // 1 MiB receive buffer needs a shift of 5
    assertEquals(sa.sackPerm, true);
    assertEquals(sa.ts![1], 555); // TSecr echoes the SYN's TSval
    assertEquals(sa.win, 65535); // a SYN's window is not scaled (RFC 7323 2.2)
    assertEquals(stateOf(p), "SYN_RECV");
    p.send({
      sport: 40000,
      dport: 80,
      seq: 1001,
      ack: sa.seq + 1,
      flags: ACK,
      win: 100,
      ts: [556, sa.ts![0]],
    });
    assertEquals(stateOf(p), "ESTABLISHED");
    const c = await l.accept();
    assertEquals(c.remoteAddr, { transport: "tcp", hostname: "10.0.0.2", port: 40000 });
    assertEquals(c.localAddr, { transport: "tcp", hostname: "10.0.0.1", port: 80 });
    // MSS: the peer's 1400 minus the 12 bytes of timestamps every segment carries.
    assertEquals(c.tcb.opts.mss, 1388);
    assertEquals(c.tcb.snd.wnd, 100 << 7);
  } finally {
    p.close();
  }
});

Deno.test("a SYN without options: MSS 536, no scaling, no SACK, no timestamps", async () => {
  const p = new Peer();
  try {
    const l = p.stack.listen({ port: 80 });
    p.send({ sport: 40000, dport: 80, seq: 7, ack: 0, flags: SYN, win: 8192 });
    const sa = p.one();
    assertEquals(sa.ws, undefined);
    assertEquals(sa.sackPerm, undefined);
    assertEquals(sa.ts, undefined);
    assertEquals(sa.mss, 1460);
    p.send({ sport: 40000, dport: 80, seq: 8, ack: sa.seq + 1, flags: ACK, win: 8192 });
    const c = await l.accept();
    assertEquals(c.tcb.opts.mss, 536);
    assertEquals(c.tcb.opts.wsOk, false);
    assertEquals(c.tcb.snd.wnd, 8192);
  } finally {
    p.close();
  }
});

Deno.test("active open: SYN, SYN-ACK, ACK; connect resolves ESTABLISHED", async () => {
  const p = new Peer();
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 443 });
    const syn = p.one();
    assertEquals(syn.flags, SYN);
    assertEquals(syn.dport, 443);
    assert(syn.sport >= 32768 && syn.sport <= 60999, `ephemeral port ${syn.sport}`);
    assertEquals(syn.mss, 1460);
    assertEquals(syn.ws, 5);
    assertEquals(syn.sackPerm, true);
    assert(syn.ts !== undefined && syn.ts[1] === 0);
    p.send({
      sport: 443,
      dport: syn.sport,
      seq: 5000,
      ack: syn.seq + 1,
      flags: SYN | ACK,
      win: 29200,
      mss: 1460,
      ws: 7,
      sackPerm: true,
      ts: [9, syn.ts![0]],
    });
    const ack = p.one();
    assertEquals(ack.flags, ACK);
    assertEquals(ack.seq, syn.seq + 1);
    assertEquals(ack.ack, 5001);
    assertEquals(ack.ts![1], 9);
    const c = await pending;
    assertEquals(c.tcb.snd.wnd, 29200); // the SYN-ACK's window is not scaled
    assertEquals(stateOf(p, 443), "ESTABLISHED");
  } finally {
    p.close();
  }
});

Deno.test("SYN_SENT: a RST acknowledging our SYN refuses the connection", async () => {
  const p = new Peer();
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 9 });
    const syn = p.one();
    // A RST whose ACK does not cover the SYN is ignored (RFC 5961 3.2 / RFC 9293 3.10.7.3).
    p.send({ sport: 9, dport: syn.sport, seq: 0, ack: syn.seq, flags: RST | ACK, win: 0 });
    assertEquals(stateOf(p, 9), "SYN_SENT");
    p.send({ sport: 9, dport: syn.sport, seq: 0, ack: syn.seq + 1, flags: RST | ACK, win: 0 });
    const e = await assertRejects(() => pending);
    assert(e instanceof Deno.errors.ConnectionRefused, String(e));
    assertEquals(stateOf(p, 9), "none");
  } finally {
    p.close();
  }
});

Deno.test("SYN_SENT: an ACK for something never sent draws <SEQ=SEG.ACK><CTL=RST>", () => {
  const p = new Peer();
  try {
    p.stack.connect({ hostname: "10.0.0.2", port: 9 }).catch(() => {});
    const syn = p.one();
    p.send({ sport: 9, dport: syn.sport, seq: 77, ack: syn.seq + 100, flags: SYN | ACK, win: 0 });
    const rst = p.one();
    assertEquals(rst.flags, RST);
    assertEquals(rst.seq, syn.seq + 100);
    assertEquals(stateOf(p, 9), "SYN_SENT");
  } finally {
    p.close();
  }
});

Deno.test("simultaneous open: SYN crosses SYN, both reach ESTABLISHED (RFC 9293 fig. 8)", async () => {
  const p = new Peer();
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 5000, localPort: 6000 });
    const syn = p.one();
    p.send({ sport: 5000, dport: 6000, seq: 300, ack: 0, flags: SYN, win: 8192, mss: 1460 });
    const synAck = p.one();
    assertEquals(synAck.flags, SYN | ACK);
    assertEquals(synAck.seq, syn.seq); // the same ISS
    assertEquals(synAck.ack, 301);
    assertEquals(stateOf(p, 5000), "SYN_RECV");
    // The peer's SYN-ACK: its SYN is old news (unacceptable), so the stack answers with an ACK.
    p.send({ sport: 5000, dport: 6000, seq: 300, ack: syn.seq + 1, flags: SYN | ACK, win: 8192 });
    const a = p.one();
    assertEquals(a.flags, ACK);
    assertEquals(a.ack, 301);
    // The peer's ACK completes it.
    p.send({ sport: 5000, dport: 6000, seq: 301, ack: syn.seq + 1, flags: ACK, win: 8192 });
    assertEquals(stateOf(p, 5000), "ESTABLISHED");
    const c = await pending;
    assertEquals(c.localAddr.port, 6000);
  } finally {
    p.close();
  }
});

Deno.test("SYN_RECV: a repeated SYN gets the SYN-ACK again; a bad ACK gets a RST", () => {
  const p = new Peer();
  try {
    p.stack.listen({ port: 80 });
    p.send({ sport: 40000, dport: 80, seq: 1000, ack: 0, flags: SYN, win: 1000 });
    const sa = p.one();
    p.send({ sport: 40000, dport: 80, seq: 1000, ack: 0, flags: SYN, win: 1000 });
    const again = p.one();
    assertEquals(again.flags, SYN | ACK);
    assertEquals(again.seq, sa.seq);
    p.send({ sport: 40000, dport: 80, seq: 1001, ack: sa.seq + 5, flags: ACK, win: 1000 });
    const rst = p.one();
    assertEquals(rst.flags, RST);
    assertEquals(rst.seq, sa.seq + 5);
    assertEquals(stateOf(p), "SYN_RECV");
  } finally {
    p.close();
  }
});

Deno.test("data: in order is readable, ACKed every second full segment or after 40 ms", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    const seg = (seq: number, n: number) => ({
      sport: 40000,
      dport: 80,
      seq,
      ack: o.localSeq,
      flags: ACK | PSH,
      win: 1000,
      data: new Uint8Array(n).fill(seq & 0xff),
    });
    p.send(seg(o.peerSeq, 1460));
    assertEquals(p.take().length, 0, "the first full segment waits for a second");
    p.send(seg(o.peerSeq + 1460, 1460));
    const a = p.one();
    assertEquals(a.ack, o.peerSeq + 2920);
    p.send(seg(o.peerSeq + 2920, 100));
    assertEquals(p.take().length, 0);
    p.advance(39);
    assertEquals(p.take().length, 0);
    p.advance(2);
    assertEquals(p.one().ack, o.peerSeq + 3020, "delayed ACK after 40 ms");
    const buf = new Uint8Array(5000);
    assertEquals(await o.conn.read(buf), 3020);
    assertEquals(buf[0], o.peerSeq & 0xff);
    assertEquals(buf[2920], (o.peerSeq + 2920) & 0xff);
  } finally {
    p.close();
  }
});

Deno.test("out of order: immediate ACK with a SACK block; the gap fill ACKs everything", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    const base = o.peerSeq;
    const mk = (seq: number, n: number) => ({
      sport: 40000,
      dport: 80,
      seq,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array(n).map((_, i) => (seq + i) & 0xff),
    });
    p.send(mk(base + 1000, 500));
    let a = p.one();
    assertEquals(a.ack, base);
    assertEquals(a.sack, [[base + 1000, base + 1500]]);
    p.send(mk(base + 2000, 500));
    a = p.one();
    // RFC 2018 4: the block with the latest segment first.
    assertEquals(a.sack, [[base + 2000, base + 2500], [base + 1000, base + 1500]]);
    p.send(mk(base, 1000));
    a = p.one();
    assertEquals(a.ack, base + 1500);
    assertEquals(a.sack, [[base + 2000, base + 2500]]);
    p.send(mk(base + 1500, 500));
    a = p.one();
    assertEquals(a.ack, base + 2500);
    assertEquals(a.sack, undefined);
    const buf = new Uint8Array(4000);
    assertEquals(await o.conn.read(buf), 2500);
    for (let i = 0; i < 2500; i++) assertEquals(buf[i], (base + i) & 0xff);
  } finally {
    p.close();
  }
});

Deno.test("passive close: FIN -> CLOSE_WAIT (EOF), close -> LAST_ACK, ACK -> CLOSED", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK | FIN,
      win: 1000,
      data: new TextEncoder().encode("bye"),
    });
    assertEquals(p.one().ack, o.peerSeq + 4, "FIN acknowledged at once");
    assertEquals(stateOf(p), "CLOSE_WAIT");
    const buf = new Uint8Array(10);
    assertEquals(await o.conn.read(buf), 3);
    assertEquals(await o.conn.read(buf), null);
    await o.conn.write(new TextEncoder().encode("ok"));
    const d = p.one();
    assertEquals(new TextDecoder().decode(d.data), "ok");
    o.conn.close();
    const fin = p.one();
    assertEquals(fin.flags, ACK | FIN);
    assertEquals(fin.seq, o.localSeq + 2);
    assertEquals(stateOf(p), "LAST_ACK");
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 4,
      ack: o.localSeq + 3,
      flags: ACK,
      win: 1000,
    });
    assertEquals(stateOf(p), "none");
  } finally {
    p.close();
  }
});

Deno.test("active close: FIN_WAIT_1 -> FIN_WAIT_2 -> TIME_WAIT -> CLOSED after 2*MSL", async () => {
  const p = new Peer({ timeWaitMs: 5000 });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.closeWrite();
    const fin = p.one();
    assertEquals(fin.flags, ACK | FIN);
    assertEquals(stateOf(p), "FIN_WAIT1");
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq + 1, flags: ACK, win: 1000 });
    assertEquals(stateOf(p), "FIN_WAIT2");
    // Half-close: the peer may still send.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 1,
      flags: ACK | PSH,
      win: 1000,
      data: new Uint8Array([1, 2, 3]),
    });
    p.advance(50);
    p.take();
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 3,
      ack: o.localSeq + 1,
      flags: ACK | FIN,
      win: 1000,
    });
    assertEquals(p.one().ack, o.peerSeq + 4);
    assertEquals(stateOf(p), "TIME_WAIT");
    const buf = new Uint8Array(10);
    assertEquals(await o.conn.read(buf), 3);
    assertEquals(await o.conn.read(buf), null);
    // A retransmitted FIN in TIME_WAIT is ACKed again.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 3,
      ack: o.localSeq + 1,
      flags: ACK | FIN,
      win: 1000,
    });
    assertEquals(p.one().ack, o.peerSeq + 4);
    p.advance(4990);
    assertEquals(stateOf(p), "TIME_WAIT");
    p.advance(20);
    assertEquals(stateOf(p), "none");
  } finally {
    p.close();
  }
});

Deno.test("simultaneous close: FIN crosses FIN -> CLOSING -> TIME_WAIT", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.closeWrite();
    const fin = p.one();
    assertEquals(fin.flags, ACK | FIN);
    // The peer's FIN, which does not acknowledge ours yet.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK | FIN,
      win: 1000,
    });
    assertEquals(stateOf(p), "CLOSING");
    assertEquals(p.one().ack, o.peerSeq + 1);
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 1,
      ack: o.localSeq + 1,
      flags: ACK,
      win: 1000,
    });
    assertEquals(stateOf(p), "TIME_WAIT");
  } finally {
    p.close();
  }
});

Deno.test("RST with SEG.SEQ = RCV.NXT resets: read and write fail with ConnectionReset", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    const reading = o.conn.read(new Uint8Array(10));
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: 0, flags: RST, win: 0 });
    const e = await assertRejects(() => reading);
    assert(e instanceof Deno.errors.ConnectionReset, String(e));
    const w = await assertRejects(() => o.conn.write(new Uint8Array(1)));
    assert(w instanceof Deno.errors.ConnectionReset, String(w));
    assertEquals(stateOf(p), "none");
    assertEquals(p.take().length, 0, "no answer to a RST");
  } finally {
    p.close();
  }
});

Deno.test("RFC 5961 3.2: an in-window RST that is not exact draws a challenge ACK", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq + 10, ack: 0, flags: RST, win: 0 });
    const ch = p.one();
    assertEquals(ch.flags, ACK);
    assertEquals(ch.seq, o.localSeq);
    assertEquals(ch.ack, o.peerSeq);
    assertEquals(stateOf(p), "ESTABLISHED");
    // Out of the window: silently dropped.
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq + 50_000_000, ack: 0, flags: RST, win: 0 });
    assertEquals(p.take().length, 0);
    assertEquals(stateOf(p), "ESTABLISHED");
    assertEquals(p.stack.counters.get("tcp.challenge_acks"), 1);
  } finally {
    p.close();
  }
});

Deno.test("RFC 5961 4.2: a SYN on an established connection draws a challenge ACK", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    for (const seq of [o.peerSeq + 5, o.peerSeq - 100_000, 12345]) {
      p.send({ sport: 40000, dport: 80, seq, ack: 0, flags: SYN, win: 1000 });
      const a = p.one();
      assertEquals(a.flags, ACK);
      assertEquals(a.ack, o.peerSeq);
    }
    assertEquals(stateOf(p), "ESTABLISHED");
  } finally {
    p.close();
  }
});

Deno.test("RFC 5961 5.2: data with an ACK outside [SND.UNA - MAX.SND.WND, SND.NXT] is dropped", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, { ...NO_TS, win: 100 }); // MAX.SND.WND = 100 << 7
    p.take();
    const data = new Uint8Array([9, 9, 9]);
    // Too old (blind injection guessing the ACK): challenge ACK, data not delivered.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq - 100_000,
      flags: ACK,
      win: 100,
      data,
    });
    assertEquals(p.one().ack, o.peerSeq);
    // Acknowledging what was never sent: an ACK, data not delivered.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 5,
      flags: ACK,
      win: 100,
      data,
    });
    assertEquals(p.one().ack, o.peerSeq);
    assertEquals(o.conn.tcb.rcvBuf!.len, 0);
    // In range: accepted.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK,
      win: 100,
      data,
    });
    assertEquals(o.conn.tcb.rcvBuf!.len, 3);
  } finally {
    p.close();
  }
});

Deno.test("RFC 5961 7: challenge ACKs are rate limited per connection", async () => {
  const p = new Peer({ challengeAckLimit: 3 });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    for (let i = 0; i < 10; i++) {
      p.send({ sport: 40000, dport: 80, seq: o.peerSeq + 1 + i, ack: 0, flags: RST, win: 0 });
    }
    assertEquals(p.take().length, 3);
    p.advance(1000);
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq + 1, ack: 0, flags: RST, win: 0 });
    assertEquals(p.take().length, 1);
  } finally {
    p.close();
  }
});

Deno.test("unacceptable segments are answered with an ACK and dropped", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    // Entirely old data (a retransmission of what was received): ACK, nothing delivered twice.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array([1, 2]),
    });
    p.advance(50);
    p.take();
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array([1, 2]),
    });
    assertEquals(p.one().ack, o.peerSeq + 2);
    assertEquals(o.conn.tcb.rcvBuf!.len, 2);
    // Far beyond the window.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 10_000_000,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array([1]),
    });
    assertEquals(p.one().ack, o.peerSeq + 2);
    assertEquals(p.stack.counters.get("tcp.rx_out_of_window"), 2);
  } finally {
    p.close();
  }
});

Deno.test("PAWS (RFC 7323 5): an old TSval is dropped with an ACK; TS.Recent follows the peer", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p); // timestamps on; the peer's last TSval was 101
    p.take();
    const tsEcr = o.conn.tcb.opts.tsRecent;
    assertEquals(tsEcr, 101);
    const seg = (seq: number, tsVal: number, byte: number) => ({
      sport: 40000,
      dport: 80,
      seq,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      ts: [tsVal, 0] as [number, number],
      data: new Uint8Array(10).fill(byte),
    });
    p.send(seg(o.peerSeq, 200, 1));
    assertEquals(o.conn.tcb.opts.tsRecent, 200);
    // Same sequence space, older clock: an old duplicate (a wrapped sequence number).
    p.send(seg(o.peerSeq + 10, 150, 2));
    const a = p.one();
    assertEquals(a.ack, o.peerSeq + 10);
    assertEquals(a.ts![1], 200, "TSecr keeps the newest TSval");
    assertEquals(o.conn.tcb.rcvBuf!.len, 10);
    assertEquals(p.stack.counters.get("tcp.paws_rejected"), 1);
    // A segment without timestamps once they are on is accepted, as Linux does (RFC 7323 3.2's
    // SHOULD drop; middleboxes strip options), and counted.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 10,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array(5),
    });
    assertEquals(o.conn.tcb.rcvBuf!.len, 15);
    assertEquals(p.stack.counters.get("tcp.rx_no_timestamp"), 1);
    // Newer clock: accepted.
    p.send(seg(o.peerSeq + 15, 201, 3));
    assertEquals(o.conn.tcb.rcvBuf!.len, 25);
    // A RST is not subject to PAWS.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq + 25,
      ack: 0,
      flags: RST,
      win: 0,
      ts: [5, 0],
    });
    assertEquals(stateOf(p), "none");
  } finally {
    p.close();
  }
});

Deno.test("data after close() is answered with RST (RFC 2525 2.17)", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    o.conn.close();
    assertEquals(p.one().flags, ACK | FIN);
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 1,
      flags: ACK,
      win: 1000,
      data: new Uint8Array([1]),
    });
    const rst = p.one();
    assertEquals(rst.flags & RST, RST);
    assertEquals(stateOf(p), "none");
  } finally {
    p.close();
  }
});

Deno.test("close() with unread data sends RST instead of FIN", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK,
      win: 1000,
      data: new Uint8Array([1, 2, 3]),
    });
    p.advance(50);
    p.take();
    o.conn.close();
    const rst = p.one();
    assertEquals(rst.flags & RST, RST);
    assertEquals(rst.seq, o.localSeq);
    assertEquals(stateOf(p), "none");
  } finally {
    p.close();
  }
});

Deno.test("urgent data is delivered in line; the urgent pointer is ignored", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq,
      flags: ACK | 32,
      win: 1000,
      data: new Uint8Array([7, 8]),
    });
    const buf = new Uint8Array(4);
    assertEquals(await o.conn.read(buf), 2);
    assertEquals([...buf.subarray(0, 2)], [7, 8]);
  } finally {
    p.close();
  }
});

Deno.test("flow control: the window shrinks while data waits unread; reading reopens it", async () => {
  const p = new Peer({ receiveBuffer: 8192 });
  try {
    // 8 KiB needs no window scale; the peer's SYN offers one, so ours is 0.
    const o = await openPassive(p, NO_TS);
    p.take();
    assertEquals(o.conn.tcb.rcv.wscale, 0);
    let seq = o.peerSeq;
    const send = (n: number) => {
      p.send({
        sport: 40000,
        dport: 80,
        seq,
        ack: o.localSeq,
        flags: ACK,
        win: 1000,
        data: new Uint8Array(n),
      });
      seq += n;
    };
    send(1460);
    send(1460);
    const a = p.one();
    assertEquals(a.win, 8192 - 2920);
    for (let i = 0; i < 3; i++) send(1460);
    p.advance(50);
    const b = p.take().pop()!;
    assertEquals(b.win, 8192 - 5 * 1460);
    send(8192 - 5 * 1460); // fills the window exactly
    p.advance(50);
    assertEquals(p.take().pop()!.win, 0);
    // A zero-window probe with data is not acceptable: ACKed with the zero window, dropped.
    send(1);
    seq -= 1;
    const z = p.one();
    assertEquals([z.ack, z.win], [seq, 0]);
    // Reading less than min(buffer / 2, MSS) announces nothing (receiver SWS avoidance) ...
    const buf = new Uint8Array(8192);
    assertEquals(await o.conn.read(buf.subarray(0, 1000)), 1000);
    await p.settle();
    assertEquals(p.take().length, 0);
    // ... reading enough does: a window update.
    assertEquals(await o.conn.read(buf.subarray(0, 3000)), 3000);
    await p.settle();
    const u = p.one();
    assertEquals([u.ack, u.win], [seq, 4000]);
  } finally {
    p.close();
  }
});
