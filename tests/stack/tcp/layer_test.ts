/** The layer's snapshot (netstat rows) and its place in the Stack snapshot. */
import { assertEquals } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { Peer } from "./_peer.ts";

Deno.test("tcpSnapshot: listeners and connections as netstat shows them", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, { mss: 1460, ws: 7, sackPerm: true, ts: true });
    await o.conn.write(new Uint8Array(100));
    const rows = p.stack.tcpSnapshot();
    assertEquals(rows[0], {
      local: "0.0.0.0:80",
      remote: "0.0.0.0:*",
      state: "LISTEN",
      recvQ: 0,
      sendQ: 1024,
      cwnd: 0,
      ssthresh: -1,
      srttMs: 0,
      rttvarMs: 0,
      rtoMs: 0,
      retransmits: 0,
      mss: 0,
      wscale: "",
      congestion: "",
      retransOut: 0,
      reordering: 0,
    });
    const c = rows[1];
    assertEquals(c.local, "10.0.0.1:80");
    assertEquals(c.remote, "10.0.0.2:40000");
    assertEquals(c.state, "ESTABLISHED");
    assertEquals(c.sendQ, 100);
    assertEquals(c.recvQ, 0);
    assertEquals(c.mss, 1448);
    assertEquals(c.cwnd, 10);
    assertEquals(c.ssthresh, -1);
    assertEquals(c.wscale, "7,5");
    assertEquals(c.rtoMs, 200);
    assertEquals([c.congestion, c.retransOut, c.reordering, c.bbr], ["cubic", 0, 3, undefined]);
    const snap = JSON.parse(JSON.stringify(p.stack.snapshot()));
    assertEquals(snap.tcp.length, 2);
    assertEquals(snap.tcp[1].state, "ESTABLISHED");
  } finally {
    p.close();
  }
});
