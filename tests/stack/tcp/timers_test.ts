/**
 * The timers against hand-built segments: retransmission timeout with backoff (RFC 6298 5),
 * SYN retries and the connect deadline, zero-window probes (RFC 9293 3.8.6.1), keepalive
 * (RFC 1122 4.2.3.6), the orphaned FIN_WAIT_2 timeout.
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, FIN, Peer, RST, SYN } from "./_peer.ts";

const NO_TS = { mss: 1460, ws: 7, sackPerm: true, ts: false };

Deno.test("RTO: unacknowledged data is resent after the RTO, then twice and four times it (RFC 6298 5.5)", async () => {
  // Without tail loss probes: the probe would come first (rack_test.ts).
  const p = new Peer({ tlp: false });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(100).fill(5));
    const first = p.one();
    assertEquals(first.data!.length, 100);
    // The handshake gave one RTT sample of 0 ms, so the RTO is at its 200 ms floor.
    assertEquals(o.conn.tcb.rtt.rto, 200);
    p.advance(199);
    assertEquals(p.take().length, 0);
    p.advance(1);
    const r1 = p.one();
    assertEquals(r1.seq, first.seq);
    assertEquals(r1.data!.length, 100);
    p.advance(399);
    assertEquals(p.take().length, 0);
    p.advance(1);
    assertEquals(p.one().seq, first.seq);
    p.advance(800);
    assertEquals(p.one().seq, first.seq);
    assertEquals(o.conn.tcb.retransmits, 3);
    assertEquals(o.conn.tcb.cong.cwnd, o.conn.tcb.opts.mss, "cwnd is one segment after a timeout");
    // The ACK ends the backoff once a sample is taken... (no timestamps: Karn forbids a
    // sample from the retransmitted segment, so the backed-off RTO stays).
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: first.seq + 100,
      flags: ACK,
      win: 1000,
    });
    assertEquals(o.conn.tcb.outstanding, 0);
    assertEquals(o.conn.tcb.rtt.backoff, 3);
  } finally {
    p.close();
  }
});

Deno.test("RTO: the connection gives up after `retries` and reports TimedOut", async () => {
  const p = new Peer({ retries: 2, tlp: false });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(10));
    const reading = o.conn.read(new Uint8Array(10));
    p.advance(200);
    p.advance(400);
    assertEquals(p.take().length, 3); // original + 2 retransmissions
    p.advance(800);
    const rst = p.one();
    assertEquals(rst.flags & RST, RST);
    const e = await assertRejects(() => reading);
    assert(e instanceof Deno.errors.TimedOut, String(e));
  } finally {
    p.close();
  }
});

Deno.test("connect: SYN retransmitted with backoff; TimedOut after the retries", async () => {
  const p = new Peer({ synRetries: 2 });
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 80 });
    const syn = p.one();
    assertEquals(syn.flags, SYN);
    p.advance(1000);
    assertEquals(p.one().seq, syn.seq);
    p.advance(2000);
    assertEquals(p.one().seq, syn.seq);
    p.advance(4000);
    const e = await assertRejects(() => pending);
    assert(e instanceof Deno.errors.TimedOut, String(e));
    assertEquals(p.stack.tcpSnapshot().length, 0);
  } finally {
    p.close();
  }
});

Deno.test("connect: timeoutMs ends the handshake early", async () => {
  const p = new Peer();
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 80, timeoutMs: 300 });
    p.take();
    p.advance(310);
    const e = await assertRejects(() => pending);
    assert(e instanceof Deno.errors.TimedOut, String(e));
  } finally {
    p.close();
  }
});

Deno.test("zero window: probes (SEG.SEQ = SND.UNA - 1) until the window opens", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, { ...NO_TS, win: 0 });
    p.take();
    await o.conn.write(new Uint8Array(3000).fill(1));
    assertEquals(p.take().length, 0, "nothing fits a zero window");
    p.advance(200);
    const probe = p.one();
    assertEquals(probe.seq, o.localSeq - 1);
    assertEquals(probe.data!.length, 0);
    // The peer answers, still closed: probing backs off (400 ms next).
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq, flags: ACK, win: 0 });
    p.advance(399);
    assertEquals(p.take().length, 0);
    p.advance(1);
    assertEquals(p.one().seq, o.localSeq - 1);
    // The window opens: the data flows.
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq, flags: ACK, win: 100 });
    const sent = p.take();
    // Two full segments; Nagle holds the 80-byte tail while they are unacknowledged.
    assertEquals(sent.map((s) => s.data!.length), [1460, 1460]);
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 2920,
      flags: ACK,
      win: 100,
    });
    assertEquals(p.one().data!.length, 80);
    assertEquals(p.stack.counters.get("tcp.window_probes"), 2);
  } finally {
    p.close();
  }
});

Deno.test("keepalive: probes after the idle time; a silent peer is declared dead", async () => {
  const p = new Peer({ keepalive: { idleMs: 10_000, intervalMs: 1000, count: 3 } });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    o.conn.setKeepAlive(true);
    const reading = o.conn.read(new Uint8Array(10));
    p.advance(9_990);
    assertEquals(p.take().length, 0);
    p.advance(20);
    const probe = p.one();
    assertEquals(probe.seq, o.localSeq - 1, "SEG.SEQ = SND.NXT - 1 (RFC 1122 4.2.3.6)");
    // An answer resets the count.
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq, flags: ACK, win: 1000 });
    p.advance(1000);
    assertEquals(p.take().length, 0, "the answer restarted the idle time");
    p.advance(9_010);
    assertEquals(p.take().length, 1);
    p.advance(1000);
    assertEquals(p.take().length, 1);
    p.advance(1000);
    assertEquals(p.take().length, 1);
    p.advance(1000);
    const rst = p.one();
    assertEquals(rst.flags & RST, RST);
    const e = await assertRejects(() => reading);
    assert(e instanceof Deno.errors.TimedOut, String(e));
  } finally {
    p.close();
  }
});

Deno.test("an orphaned FIN_WAIT_2 ends after finWait2Ms", async () => {
  const p = new Peer({ finWait2Ms: 3000 });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    o.conn.close();
    assertEquals(p.one().flags, ACK | FIN);
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq + 1, flags: ACK, win: 1000 });
    assertEquals(p.stack.tcpSnapshot().filter((r) => r.state === "FIN_WAIT2").length, 1);
    p.advance(3010);
    assertEquals(p.stack.tcpSnapshot().filter((r) => r.state !== "LISTEN").length, 0);
  } finally {
    p.close();
  }
});

Deno.test("small window: sender SWS avoidance waits, the override timer sends what fits (RFC 1122 4.2.3.4)", async () => {
  const p = new Peer();
  try {
    // A large window at the handshake, then a small one: 4 << 7 (window scale 7) = 512 bytes.
    const o = await openPassive(p, { ...NO_TS, win: 65535 });
    p.take();
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq, flags: ACK, win: 4 });
    await o.conn.write(new Uint8Array(10_000).fill(3));
    // 512 bytes fit: less than an MSS and than half the largest window: SWS avoidance waits.
    assertEquals(p.take().length, 0);
    p.advance(199);
    assertEquals(p.take().length, 0);
    p.advance(1);
    const forced = p.one();
    assertEquals([forced.seq, forced.data!.length], [o.localSeq, 512]);
    assertEquals(p.stack.counters.get("tcp.sws_override"), 1);
    // Acknowledged with the window still 512: the retransmission timer is off, the override
    // timer runs again and the next 512 go after it.
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: o.localSeq + 512, flags: ACK, win: 4 });
    assertEquals(p.take().length, 0);
    p.advance(200);
    assertEquals(p.one().data!.length, 512);
    // The window opens: full segments at once.
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 1024,
      flags: ACK,
      win: 512,
    });
    assertEquals(p.take().map((s) => s.data!.length).slice(0, 2), [1460, 1460]);
  } finally {
    p.close();
  }
});

Deno.test("an exception in one connection's timer resets that connection; the others go on", async () => {
  const p = new Peer({ tlp: false }); // the RTO, not a probe, fires at 200 ms
  const logged: unknown[] = [];
  const error = console.error;
  console.error = (...a: unknown[]) => logged.push(a.join(" "));
  try {
    const a = await openPassive(p, NO_TS);
    // A second connection on the same listener, from port 40001.
    p.send({ sport: 40001, dport: 80, seq: 5000, ack: 0, flags: SYN, win: 65535, mss: 1460 });
    const synAck = p.one();
    p.send({ sport: 40001, dport: 80, seq: 5001, ack: synAck.seq + 1, flags: ACK, win: 65535 });
    const b = await a.listener.accept();
    p.take();
    // A bug inside connection a's congestion control, reached from its retransmission timer.
    a.conn.tcb.cc.onRto = () => {
      throw new Error("injected");
    };
    await a.conn.write(new Uint8Array(100).fill(1));
    await b.write(new Uint8Array(100).fill(2));
    assertEquals(p.take().length, 2);
    const reading = a.conn.read(new Uint8Array(10));
    p.advance(200); // both RTOs fire: a's throws, b's retransmits
    const out = p.take();
    const rst = out.find((s) => s.sport === 80 && s.dport === 40000);
    assert(rst !== undefined && (rst.flags & RST) === RST, JSON.stringify(out));
    const again = out.find((s) => s.dport === 40001);
    assert(again !== undefined && again.data!.length === 100, "b retransmits as usual");
    const e = await assertRejects(() => reading);
    assert(e instanceof Deno.errors.ConnectionAborted, String(e));
    assertEquals(p.stack.counters.get("tcp.internal_errors"), 1);
    assertEquals(logged.length, 1);
    assert(String(logged[0]).includes("injected"), String(logged[0]));
    // b goes on: acknowledged, it takes more data.
    p.send({ sport: 40001, dport: 80, seq: 5001, ack: synAck.seq + 101, flags: ACK, win: 65535 });
    await b.write(new Uint8Array(50));
    assertEquals(p.one().data!.length, 50);
    assertEquals(p.stack.tcpSnapshot().filter((s) => s.state === "ESTABLISHED").length, 1);
  } finally {
    console.error = error;
    p.close();
  }
});

Deno.test("RFC 6298 5.7: after a SYN timeout with no RTT sample, data starts with a 3 s RTO", async () => {
  const p = new Peer();
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 80 });
    const syn = p.one();
    p.advance(1000); // the SYN times out once: Karn forbids a sample from the answer
    assertEquals(p.one().seq, syn.seq);
    p.send({
      sport: 80,
      dport: syn.sport,
      seq: 7000,
      ack: syn.seq + 1,
      flags: SYN | ACK,
      win: 65535,
      mss: 1460,
    });
    const conn = await pending;
    p.take();
    assertEquals(conn.tcb.rtt.rto, 3000);
    await conn.write(new Uint8Array(10));
    const first = p.one();
    p.advance(2999);
    assertEquals(p.take().length, 0, "no retransmission before 3 s");
    p.advance(1);
    assertEquals(p.one().seq, first.seq);
  } finally {
    p.close();
  }
});
