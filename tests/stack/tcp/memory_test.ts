/**
 * TCP's bounds against hand-built segments: the TIME_WAIT cap (past it a connection ends without
 * TIME_WAIT), the orphan cap (past it close() resets), and the buffers' memory budget (under
 * pressure the receive window stops at the ring the connection has; at the limit a SYN is
 * refused), with the usage `lb.ts netstat -e` and `stats` print.
 */
import { assert, assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, FIN, Peer, RST, SYN } from "./_peer.ts";

const NO_TS = { mss: 1460, ws: 7, sackPerm: true, ts: false };

/** A second connection to the listener `openPassive` made, from peer port `sport`. */
async function another(p: Peer, o: Awaited<ReturnType<typeof openPassive>>, sport: number) {
  p.send({ sport, dport: 80, seq: 7000, ack: 0, flags: SYN, win: 65535, mss: 1460 });
  const synAck = p.one();
  p.send({ sport, dport: 80, seq: 7001, ack: synAck.seq + 1, flags: ACK, win: 65535 });
  return { conn: await o.listener.accept(), localSeq: synAck.seq + 1, peerSeq: 7001 };
}

Deno.test("TIME_WAIT cap: past it a closing connection ends at once, counted", async () => {
  const p = new Peer({ maxTimeWait: 1 });
  try {
    const a = await openPassive(p, NO_TS);
    const b = await another(p, a, 40001);
    p.take();
    for (
      const [c, sport, local, peer] of [
        [a.conn, 40000, a.localSeq, a.peerSeq],
        [b.conn, 40001, b.localSeq, b.peerSeq],
      ] as const
    ) {
      c.close(); // active close: FIN, then the peer's ACK and FIN
      await p.settle();
      assertEquals(p.one().flags, FIN | ACK);
      p.send({ sport, dport: 80, seq: peer, ack: local + 1, flags: FIN | ACK, win: 65535 });
      assertEquals(p.one().flags, ACK);
    }
    assertEquals(p.stack.counters.get("tcp.time_wait_overflow"), 1);
    const u = p.stack.tcp.usage();
    assertEquals([u.timeWait, u.connections], [1, 1]);
    p.advance(60_000);
    assertEquals(p.stack.tcp.usage().timeWait, 0);
  } finally {
    p.close();
  }
});

Deno.test("orphan cap: past it close() resets instead of waiting for the peer", async () => {
  const p = new Peer({ maxOrphans: 1 });
  try {
    const a = await openPassive(p, NO_TS);
    const b = await another(p, a, 40001);
    p.take();
    a.conn.close();
    await p.settle();
    assertEquals(p.one().flags, FIN | ACK);
    assertEquals(p.stack.tcp.usage().orphans, 1);
    b.conn.close();
    await p.settle();
    const rst = p.one();
    assertEquals([rst.dport, rst.flags & RST], [40001, RST]);
    assertEquals(p.stack.counters.get("tcp.orphan_overflow"), 1);
    // The orphan ends (the peer answers); the count goes back.
    p.send({
      sport: 40000,
      dport: 80,
      seq: a.peerSeq,
      ack: a.localSeq + 1,
      flags: FIN | ACK,
      win: 65535,
    });
    assertEquals(p.stack.tcp.usage().orphans, 0);
  } finally {
    p.close();
  }
});

Deno.test("memory pressure: the receive window stops at the ring it has; at the limit SYNs wait", async () => {
  const p = new Peer({ memoryLimit: 1 << 20, receiveBuffer: 1 << 20 });
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    const shift = o.conn.tcb.rcv.wscale;
    // The peer sends whatever the window offers; the application never reads.
    let seq = o.peerSeq;
    let window = 65535; // the SYN-ACK's window (never scaled) to start
    for (let i = 0; i < 2000 && window > 0; i++) {
      const n = window < 1460 ? window : 1460;
      p.send({
        sport: 40000,
        dport: 80,
        seq,
        ack: o.localSeq,
        flags: ACK,
        win: 65535,
        data: new Uint8Array(n),
      });
      seq += n;
      const acks = p.take();
      if (acks.length > 0) {
        const last = acks[acks.length - 1];
        window = (last.win << shift) - (seq - last.ack);
      } else {
        window -= n;
      }
    }
    const u = p.stack.tcp.usage();
    const held = seq - o.peerSeq;
    // The ring doubled while the peer filled it, until one more doubling would have passed the
    // pressure mark (60% of 1 MiB): then the window closed at the ring it had.
    assert(p.stack.tcp.memory.growthDenied >= 1, JSON.stringify(u));
    assertEquals(o.conn.tcb.rcvBuf!.cap, 512 * 1024);
    // (the window field is scaled, so the last few bytes of the ring may stay unoffered)
    assert(held > 511 * 1024 && held <= 512 * 1024, `held ${held}`);
    assert(u.memoryBytes <= u.memoryLimitBytes, JSON.stringify(u));
    // At the limit a new connection is refused: its SYN gets nothing (it will retransmit).
    p.stack.tcp.memory.charge(u.memoryLimitBytes);
    p.send({ sport: 40009, dport: 80, seq: 1, ack: 0, flags: SYN, win: 65535, mss: 1460 });
    assertEquals(p.take().length, 0);
    assertEquals(p.stack.counters.get("tcp.memory_refused"), 1);
    p.stack.tcp.memory.charge(-u.memoryLimitBytes);
    // Reading frees the window again.
    await o.conn.read(new Uint8Array(1 << 20));
    assert(p.stack.tcp.usage().memoryBytes > 0);
  } finally {
    p.close();
  }
});
