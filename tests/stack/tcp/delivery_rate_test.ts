/**
 * Delivery-rate samples (draft-cheng-iccrg-delivery-rate-estimation) from the transmission
 * record, and BBR on a connection: a segment lost from a large window does not halve it.
 */
import { assert, assertEquals } from "../../assert.ts";
import { DeliveryRate } from "../../../stack/tcp/delivery_rate.ts";
import { SentSegments } from "../../../stack/tcp/sent_segments.ts";
import { openPassive } from "./_handshake.ts";
import { ACK, Peer } from "./_peer.ts";

/** Ten 1000-byte segments sent 1 ms apart from t = 0, as the connection records them. */
function flight() {
  const segs = new SentSegments();
  const rate = new DeliveryRate();
  for (let k = 0; k < 10; k++) {
    const i = segs.append(k * 1000, (k + 1) * 1000, k, k + 1);
    rate.sent(segs, i, k, k * 1000);
  }
  /** Delivers records [from, to) at `now`; returns the sample. */
  const ack = (from: number, to: number, now: number) => {
    rate.begin(0);
    for (let k = from; k < to; k++) rate.deliver(segs, segs.find(k * 1000), 1000, now);
    return { ...rate.finish(1) };
  };
  return { segs, rate, ack };
}

Deno.test("delivery rate: delivered octets over the longer of the send and ACK intervals", () => {
  const { ack } = flight();
  // Segments 0-4 acknowledged 20 ms after the first left: 5000 octets in 20 ms.
  let rs = ack(0, 5, 20);
  assertEquals(rs.delivered, 5000);
  assertEquals(rs.interval, 20);
  assertEquals(rs.rtt, 16, "the RTT of the most recently sent delivered segment (sent at 4)");
  // Segments 5-9, 5 ms later: all were sent before any delivery, so the sample spans the whole
  // flight: 10000 octets from its start (0 ms) to now.
  rs = ack(5, 10, 25);
  assertEquals(rs.delivered, 10_000);
  assertEquals(rs.interval, 25);
  assertEquals(rs.delivered / rs.interval, 400, "octets per ms");
});

Deno.test("delivery rate: an interval shorter than min RTT is no sample (ACK compression)", () => {
  const { rate, ack } = flight();
  rate.begin(0);
  const rs = ack(0, 1, 0.5);
  assertEquals(rs.interval, -1);
});

Deno.test("delivery rate: samples of a flight sent application-limited say so", () => {
  const segs = new SentSegments();
  const rate = new DeliveryRate();
  rate.markAppLimited(0);
  const i = segs.append(0, 1000, 0, 1);
  rate.sent(segs, i, 0, 0);
  rate.begin(0);
  rate.deliver(segs, i, 1000, 10);
  const rs = rate.finish(1);
  assert(rs.appLimited);
  assertEquals(rate.appLimited, 0, "the application-limited phase ends with its flight");
});

Deno.test("BBR on a connection: a segment lost from a large window does not halve it", async () => {
  for (const congestion of ["bbr", "cubic"] as const) {
    const p = new Peer({ congestion, initialCwnd: 40 });
    try {
      const o = await openPassive(p, { mss: 1000, ws: 7, sackPerm: true, ts: false, rttMs: 20 });
      p.take();
      const t = o.conn.tcb;
      await o.conn.write(new Uint8Array(200_000));
      const una = o.localSeq;
      assertEquals(p.take().length, 40);
      p.advance(20);
      // Segment 0 lost; 1..39 arrive and are SACKed, one ACK each.
      for (let k = 2; k <= 40; k++) {
        p.send({
          sport: 40000,
          dport: 80,
          seq: o.peerSeq,
          ack: una,
          flags: ACK,
          win: 65535,
          sack: [[una + 1000, una + k * 1000]],
        });
      }
      assert(t.recovery.active);
      const segs = Math.round(t.cong.cwnd / 1000);
      if (congestion === "bbr") assert(segs >= 38, `BBR keeps the window: ${segs} segments`);
      else assert(segs <= 30, `CUBIC reduces it (beta 0.7): ${segs} segments`);
    } finally {
      p.close();
    }
  }
});

Deno.test("netstat rows of a BBR connection carry its model, as ss -ti shows bbr:(...)", async () => {
  const p = new Peer({ congestion: "bbr" });
  try {
    const o = await openPassive(p, { mss: 1000, ws: 7, sackPerm: true, ts: false, rttMs: 20 });
    p.take();
    await o.conn.write(new Uint8Array(10_000));
    const una = o.localSeq;
    p.take();
    p.advance(20);
    p.send({ sport: 40000, dport: 80, seq: o.peerSeq, ack: una + 10_000, flags: ACK, win: 65535 });
    const row = p.stack.tcpSnapshot().find((r) => r.state === "ESTABLISHED")!;
    assertEquals(row.congestion, "bbr");
    assert(row.bbr !== undefined, JSON.stringify(row));
    // 10,000 octets delivered 20 ms after they left: 4 Mbit/s; min RTT 20 ms; STARTUP's gains.
    assertEquals(row.bbr.bwMbps, 4);
    assertEquals(row.bbr.mrttMs, 20);
    assert(row.bbr.pacingGain > 2.8 && row.bbr.cwndGain > 2.8, JSON.stringify(row.bbr));
  } finally {
    p.close();
  }
});
