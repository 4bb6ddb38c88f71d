/**
 * ICMP errors to TCP (RFC 1122 4.2.3.9, RFC 1191, RFC 5927) against hand-built errors quoting
 * the stack's own segments: fragmentation needed lowers the MSS and resends what was in flight
 * (only when the quoted sequence number is in flight), the path MTU is remembered for new
 * connections and expires; port unreachable fails a connect at once; other unreachables are soft
 * errors reported when the connection then times out.
 */
import { assert, assertEquals, assertRejects } from "../../assert.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer, REMOTE, SYN } from "./_peer.ts";

const NO_TS = { mss: 1460, ws: 7, sackPerm: true, ts: false };
const ROUTER = 0x0a0000fe;

Deno.test("frag-needed: the MSS drops to the path MTU and what was in flight is sent again", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(2920).fill(7));
    const sent = p.take();
    assertEquals(sent.map((s) => s.data!.length), [1460, 1460]);
    const cwnd = o.conn.tcb.cong.cwnd;
    // A router quotes the first segment: 1280 bytes pass.
    p.sendIcmpError(3, 4, 1280, sent[0], ROUTER);
    assertEquals(o.conn.tcb.opts.mss, 1240);
    const again = p.take();
    assertEquals(again.map((s) => [s.seq - o.localSeq, s.data!.length]), [[0, 1240], [1240, 1240], [
      2480,
      440,
    ]]);
    assertEquals(o.conn.tcb.cong.cwnd, cwnd, "a smaller path is not congestion");
    assertEquals(p.stack.counters.get("tcp.pmtu_reduced"), 1);
    assertEquals(p.stack.pmtu.get(REMOTE), 1280);
    // A second error for the same size changes nothing.
    p.sendIcmpError(3, 4, 1280, again[0], ROUTER);
    assertEquals(p.take().length, 0);
    assertEquals(p.stack.counters.get("tcp.icmp_frag_needed_ignored"), 1);
  } finally {
    p.close();
  }
});

Deno.test("frag-needed quoting a sequence number not in flight is ignored (RFC 5927)", async () => {
  const p = new Peer();
  try {
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(1000));
    const s = p.one();
    for (const seq of [s.seq - 5000, s.seq + 100_000]) {
      p.sendIcmpError(3, 4, 576, { ...s, seq }, ROUTER);
    }
    assertEquals(o.conn.tcb.opts.mss, 1460);
    assertEquals(p.take().length, 0);
    assertEquals(p.stack.counters.get("tcp.icmp_out_of_window"), 2);
    assertEquals(p.stack.pmtu.get(REMOTE), 0, "nothing learned from a forged error");
    // A tiny MTU is raised to the floor (552), so a forged small one cannot shred segments.
    p.sendIcmpError(3, 4, 100, s, ROUTER);
    assertEquals([p.stack.pmtu.get(REMOTE), o.conn.tcb.opts.mss], [552, 512]);
  } finally {
    p.close();
  }
});

Deno.test("the learned path MTU sizes new connections, and expires after 10 minutes", async () => {
  const p = new Peer();
  try {
    const a = await openPassive(p, NO_TS);
    p.take();
    await a.conn.write(new Uint8Array(1460));
    p.sendIcmpError(3, 4, 1400, p.one(), ROUTER);
    p.take();
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 8080 });
    const syn = p.one();
    assertEquals(syn.mss, 1460, "the MSS we advertise is our own link's");
    p.send({
      sport: 8080,
      dport: syn.sport,
      seq: 1,
      ack: syn.seq + 1,
      flags: SYN | ACK,
      win: 65535,
      mss: 1460,
    });
    const b = await pending;
    assertEquals(b.tcb.opts.mss, 1360);
    p.clock.advance(600_000);
    assertEquals(p.stack.pmtu.get(REMOTE), 0);
  } finally {
    p.close();
  }
});

Deno.test("port unreachable fails a connect at once; host unreachable is a soft error", async () => {
  const p = new Peer({ retries: 2, tlp: false });
  try {
    const pending = p.stack.connect({ hostname: "10.0.0.2", port: 9 });
    const syn = p.one();
    p.sendIcmpError(3, 3, 0, syn, REMOTE);
    const e = await assertRejects(() => pending);
    assert(e instanceof Deno.errors.ConnectionRefused, String(e));
    assertEquals(p.stack.counters.get("tcp.icmp_hard_errors"), 1);

    // Established: host unreachable is remembered and told when the retransmissions give up.
    const o = await openPassive(p, NO_TS);
    p.take();
    await o.conn.write(new Uint8Array(10));
    const seg = p.one();
    p.sendIcmpError(3, 1, 0, seg, ROUTER);
    assertEquals(p.stack.counters.get("tcp.icmp_soft_errors"), 1);
    const reading = o.conn.read(new Uint8Array(10));
    p.advance(200);
    p.advance(400);
    p.advance(800);
    const err = await assertRejects(() => reading);
    assert(err instanceof Deno.errors.NetworkUnreachable, String(err));
    assert(String(err).includes("No route to host"), String(err));
  } finally {
    p.close();
  }
});

Deno.test("an error quoting no connection of ours is counted and ignored", () => {
  const p = new Peer();
  try {
    p.sendIcmpError(3, 4, 1280, { sport: 80, dport: 40000, seq: 1, ack: 0, flags: ACK, win: 0 });
    assertEquals(p.stack.counters.get("tcp.icmp_no_connection"), 1);
    assertEquals(p.stack.pmtu.get(REMOTE), 0);
  } finally {
    p.close();
  }
});
