/**
 * Listeners and the layer's demultiplexing: RST for closed ports (RFC 9293 3.10.7.1), the SYN
 * backlog and SYN cookies (RFC 4987), the accept backlog, closing a listener, TIME_WAIT reuse
 * (RFC 6191), address conflicts.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../../assert.ts";
import { COOKIE_MSS_TABLE } from "../../../stack/tcp/syn_cookies.ts";
import { queueOf } from "../../../stack/tcp/listener.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, FIN, Peer, RST, SYN } from "./_peer.ts";

Deno.test("closed port: SYN gets <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>", () => {
  const p = new Peer();
  try {
    p.send({ sport: 1234, dport: 81, seq: 4000, ack: 0, flags: SYN, win: 100 });
    const r = p.one();
    assertEquals(r.flags, RST | ACK);
    assertEquals(r.seq, 0);
    assertEquals(r.ack, 4001);
    assertEquals([r.sport, r.dport], [81, 1234]);
    // With ACK: <SEQ=SEG.ACK><CTL=RST>.
    p.send({
      sport: 1234,
      dport: 81,
      seq: 4000,
      ack: 777,
      flags: ACK,
      win: 100,
      data: new Uint8Array(5),
    });
    const r2 = p.one();
    assertEquals(r2.flags, RST);
    assertEquals(r2.seq, 777);
    // A RST is never answered.
    p.send({ sport: 1234, dport: 81, seq: 4000, ack: 0, flags: RST, win: 0 });
    assertEquals(p.take().length, 0);
  } finally {
    p.close();
  }
});

Deno.test("a listener answers a bare ACK with RST", () => {
  const p = new Peer();
  try {
    p.stack.listen({ port: 80 });
    p.send({ sport: 1234, dport: 80, seq: 1, ack: 99, flags: ACK, win: 100 });
    const r = p.one();
    assertEquals(r.flags, RST);
    assertEquals(r.seq, 99);
  } finally {
    p.close();
  }
});

Deno.test("SYN backlog full: SYN cookies carry MSS, window scale and SACK-permitted", async () => {
  const p = new Peer({ synBacklog: 2 });
  try {
    const l = p.stack.listen({ port: 80 });
    for (let i = 0; i < 2; i++) {
      p.send({ sport: 30000 + i, dport: 80, seq: 10, ack: 0, flags: SYN, win: 1000 });
    }
    assertEquals(p.take().length, 2);
    assertEquals(p.stack.tcpSnapshot().filter((r) => r.state === "SYN_RECV").length, 2);
    // The third SYN finds the backlog full: a stateless SYN-ACK.
    p.send({
      sport: 40000,
      dport: 80,
      seq: 5000,
      ack: 0,
      flags: SYN,
      win: 1000,
      mss: 1400,
      ws: 6,
      sackPerm: true,
    });
    const sa = p.one();
    assertEquals(sa.flags, SYN | ACK);
    assertEquals(sa.ack, 5001);
    assertEquals(sa.ws, 5);
    assertEquals(sa.sackPerm, true);
    assertEquals(p.stack.tcpSnapshot().filter((r) => r.state === "SYN_RECV").length, 2);
    assertEquals(p.stack.counters.get("tcp.syncookies_sent"), 1);
    // A forged ACK (a guessed cookie) is refused with RST.
    p.send({ sport: 40000, dport: 80, seq: 5001, ack: sa.seq + 0x123456, flags: ACK, win: 100 });
    assertEquals(p.one().flags, RST);
    // The real final ACK, with data: the connection is rebuilt from the cookie.
    p.send({
      sport: 40000,
      dport: 80,
      seq: 5001,
      ack: sa.seq + 1,
      flags: ACK,
      win: 100,
      data: new TextEncoder().encode("GET"),
    });
    const c = await l.accept();
    assertEquals(c.remoteAddr.port, 40000);
    const t = c.tcb;
    assertEquals(t.opts.mss, COOKIE_MSS_TABLE[1]); // 1400 is carried as the table entry below: 1300
    assertEquals(t.snd.wscale, 6);
    assertEquals(t.opts.sackOk, true);
    assertEquals(t.snd.wnd, 100 << 6);
    const buf = new Uint8Array(8);
    assertEquals(await c.read(buf), 3);
    assertEquals(p.stack.counters.get("tcp.syncookies_ok"), 1);
  } finally {
    p.close();
  }
});

Deno.test("accept backlog full: new SYNs are dropped, the final ACK is ignored", async () => {
  const p = new Peer();
  try {
    const l = p.stack.listen({ port: 80, backlog: 1 });
    await openPassive(p, { mss: 1460 }).catch(() => {});
    p.take();
    // openPassive consumed the only queued slot by accept(); fill it again without accepting.
    p.send({ sport: 50001, dport: 80, seq: 1, ack: 0, flags: SYN, win: 100 });
    const sa = p.one();
    p.send({ sport: 50001, dport: 80, seq: 2, ack: sa.seq + 1, flags: ACK, win: 100 });
    assertEquals(queueOf(l).queued, 1);
    p.send({ sport: 50002, dport: 80, seq: 1, ack: 0, flags: SYN, win: 100 });
    assertEquals(p.take().length, 0, "SYN dropped while the accept queue is full");
    assertEquals(p.stack.counters.get("tcp.listen_overflow"), 1);
  } finally {
    p.close();
  }
});

Deno.test("closing a listener resets its queued and half-open connections", () => {
  const p = new Peer();
  try {
    const l = p.stack.listen({ port: 80 });
    p.send({ sport: 50001, dport: 80, seq: 1, ack: 0, flags: SYN, win: 100 });
    const sa = p.one();
    p.send({ sport: 50001, dport: 80, seq: 2, ack: sa.seq + 1, flags: ACK, win: 100 });
    p.send({ sport: 50002, dport: 80, seq: 1, ack: 0, flags: SYN, win: 100 });
    p.take();
    l.close();
    const rsts = p.take();
    assertEquals(rsts.length, 2);
    assert(rsts.every((r) => (r.flags & RST) !== 0));
    assertEquals(p.stack.tcpSnapshot().length, 0);
    assertThrows(() => l.close(), Deno.errors.BadResource);
  } finally {
    p.close();
  }
});

Deno.test("a SYN with a higher sequence number reopens a TIME_WAIT tuple (RFC 6191)", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, { mss: 1460 });
    p.take();
    await o.conn.closeWrite();
    p.take();
    p.send({
      sport: 40000,
      dport: 80,
      seq: o.peerSeq,
      ack: o.localSeq + 1,
      flags: ACK | FIN,
      win: 100,
    });
    p.take();
    assertEquals(
      p.stack.tcpSnapshot().find((r) => r.remote.endsWith(":40000"))?.state,
      "TIME_WAIT",
    );
    // An old SYN (lower sequence number) is not a new connection.
    p.send({ sport: 40000, dport: 80, seq: 500, ack: 0, flags: SYN, win: 100 });
    assertEquals(p.one().flags, ACK, "challenge ACK");
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq + 100_000, ack: 0, flags: SYN, win: 100 });
    const sa = p.one();
    assertEquals(sa.flags, SYN | ACK);
    assert(((sa.seq - o.localSeq) | 0) > 0, "the new ISS lies beyond the old connection's");
    assertEquals(p.stack.counters.get("tcp.time_wait_reused"), 1);
    assertEquals(p.stack.tcpSnapshot().find((r) => r.remote.endsWith(":40000"))?.state, "SYN_RECV");
  } finally {
    p.close();
  }
});

Deno.test("listen: AddrInUse for a taken port, AddrNotAvailable for a foreign address", () => {
  const p = new Peer();
  try {
    p.stack.listen({ port: 80 });
    assertThrows(() => p.stack.listen({ port: 80 }), Deno.errors.AddrInUse);
    assertThrows(() => p.stack.listen({ port: 80, hostname: "10.0.0.1" }), Deno.errors.AddrInUse);
    assertThrows(
      () => p.stack.listen({ port: 81, hostname: "10.9.9.9" }),
      Deno.errors.AddrNotAvailable,
    );
    assertThrows(() => p.stack.listen({ port: 65536 }), RangeError);
    assertThrows(() => p.stack.listen({ port: 82, hostname: "example.com" }), TypeError);
    const l = p.stack.listen({ port: 81, hostname: "10.0.0.1" });
    assertEquals(l.addr, { transport: "tcp", hostname: "10.0.0.1", port: 81 });
  } finally {
    p.close();
  }
});

Deno.test("connect: AddrInUse for a used tuple, NetworkUnreachable without a route", async () => {
  const p = new Peer();
  try {
    p.stack.connect({ hostname: "10.0.0.2", port: 80, localPort: 5555 }).catch(() => {});
    const e = await assertRejects(() =>
      p.stack.connect({ hostname: "10.0.0.2", port: 80, localPort: 5555 })
    );
    assert(e instanceof Deno.errors.AddrInUse, String(e));
    const u = await assertRejects(() => p.stack.connect({ hostname: "192.0.2.1", port: 80 }));
    assert(u instanceof Deno.errors.NetworkUnreachable, String(u));
    const self = await assertRejects(() => p.stack.connect({ hostname: "10.0.0.1", port: 80 }));
    assert(self instanceof Deno.errors.ConnectionRefused, String(self));
    // Ephemeral ports: distinct, in Linux's range.
    const ports = new Set<number>();
    p.take();
    for (let i = 0; i < 50; i++) {
      p.stack.connect({ hostname: "10.0.0.2", port: 80 }).catch(() => {});
      ports.add(p.one().sport);
    }
    assertEquals(ports.size, 50);
  } finally {
    p.close();
  }
});

Deno.test("listen: port 0 (and no port) picks a free ephemeral port; tcpBacklog bounds the queue", () => {
  const p = new Peer();
  try {
    const a = p.stack.listen({ port: 0 });
    const b = p.stack.listen({});
    for (const l of [a, b]) {
      assert(l.addr.port >= 49152 && l.addr.port <= 65535, `port ${l.addr.port}`);
    }
    assert(a.addr.port !== b.addr.port);
    assertEquals(a.addr.hostname, "0.0.0.0");
    const l = p.stack.listen({ port: 80, tcpBacklog: 1 });
    p.send({ sport: 50001, dport: 80, seq: 1, ack: 0, flags: SYN, win: 100 });
    const sa = p.one();
    p.send({ sport: 50001, dport: 80, seq: 2, ack: sa.seq + 1, flags: ACK, win: 100 });
    assertEquals(queueOf(l).queued, 1);
    p.send({ sport: 50002, dport: 80, seq: 1, ack: 0, flags: SYN, win: 100 });
    assertEquals(p.take().length, 0, "tcpBacklog 1: the SYN is dropped while one waits");
  } finally {
    p.close();
  }
});
