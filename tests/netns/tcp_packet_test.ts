/**
 * The stack's TCP against a scripted peer, in the manner of gVisor's packetimpact: a Python/scapy
 * peer (tests/netns/_packet_peer.py) in a namespace sends exact segments on a raw socket and
 * times what the stack answers. Its kernel's RSTs are dropped (nftables), so the kernel stays out
 * of the conversation. The peer answers only one RTT (40 ms) after each flight, so the stack
 * measures a 40 ms minimum RTT: RACK's reordering window is 10 ms, the probe timeout 82 ms and the
 * retransmission timeout its 200 ms floor. The timer wheel ticks every 10 ms, so times are checked
 * with that much room.
 *
 *   k1 (10.86.0.1, the scripted peer) ── br ── TAP ── lb.ts stack (10.86.0.2, http:80)
 */
import { assert, assertEquals } from "../assert.ts";
import { netnsTest, type Topology } from "./topology.ts";

const PEER = new URL("./_packet_peer.py", import.meta.url).pathname;
const STACK_MAC = "02:00:5e:86:00:02";

interface Rig {
  t: Topology;
  k1: string;
  k1Mac: string;
  control: string;
  sport: number;
}

async function build(t: Topology, extra: string[] = []): Promise<Rig> {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const br = await t.bridge(hub, "br");
  const k1Mac = await t.attach(k1, hub, br, "eth0", "10.86.0.1/24");
  // The scripted connections are unknown to k1's kernel: keep its RSTs from reaching the stack.
  await t.execOk(k1, [
    "nft",
    "add table inet pk; add chain inet pk out { type filter hook output priority 0; }; " +
    "add rule inet pk out tcp flags & rst == rst drop",
  ]);
  const tap = await t.tap(hub, br);
  const control = t.tempPath("pk.sock");
  const host = t.lb(hub, [
    "stack",
    "--tap",
    tap,
    "--ip",
    "10.86.0.2/24",
    "--mac",
    STACK_MAC,
    "--control",
    control,
    "--serve",
    "http:80",
    ...extra,
  ]);
  await host.waitFor("up on", 30_000);
  // ARP both ways before the timed part.
  await t.execOk(k1, ["ping", "-c", "1", "-W", "2", "10.86.0.2"]);
  return { t, k1, k1Mac, control, sport: 41000 };
}

/** Runs one scenario of the scripted peer from a fresh source port; returns what it printed. */
async function scenario(r: Rig, name: string, arg = ""): Promise<Record<string, unknown>> {
  r.sport++;
  const out = await r.t.execOk(r.k1, [
    "/usr/bin/python3",
    PEER,
    name,
    "eth0",
    r.k1Mac,
    "10.86.0.1",
    STACK_MAC,
    "10.86.0.2",
    String(r.sport),
    arg,
  ], 60_000);
  return JSON.parse(out.trim().split("\n").at(-1)!);
}

async function counters(r: Rig): Promise<Record<string, number>> {
  const s = await r.t.lbRun(["stats", "--json", "--control", r.control]);
  return JSON.parse(s.stdout).counters as Record<string, number>;
}

netnsTest("packet peer: RACK waits out the reordering window, and a DSACK widens it", async (t) => {
  const r = await build(t);
  const within = await scenario(r, "rack_window", "within");
  assertEquals(within.retransmitted, false, JSON.stringify(within));
  const late = await scenario(r, "rack_window", "late");
  assert(late.retransmitted, JSON.stringify(late));
  const d = late.delta_ms as number;
  // RACK: lost once RTT + min_RTT / 4 passed since it was sent; the SACK came one RTT after.
  assert(d >= 7 && d < 100, `retransmitted ${d} ms after the SACK (window 10 ms, RTO 200)`);
  const ds = await scenario(r, "dsack");
  const first = ds.first_ms as number;
  const second = ds.second_ms as number;
  assert(first >= 7 && first < 100, JSON.stringify(ds));
  assert(second >= 17 && second > first, `after a DSACK the window doubled: ${JSON.stringify(ds)}`);
  const c = await counters(r);
  assert((c["tcp.dsacks_received"] ?? 0) >= 1, JSON.stringify(c));
});

netnsTest(
  "packet peer: PRR spreads recovery sends over the ACKs; TLP probes the tail",
  async (t) => {
    const r = await build(t);
    const prr = await scenario(r, "prr");
    const perAck = prr.per_ack as number[];
    // A second flight of 10-20 segments (slow start after ten ACKs; its size depends on timing).
    assert((prr.flight as number) >= 10, JSON.stringify(prr));
    assert(perAck.every((n) => n <= 2), `no bursts: ${perAck}`);
    // After the first three SACKs (limited transmit, then RACK marks segment 0 lost), PRR sends
    // about ssthresh / RecoverFS = 0.7 of what each ACK reports delivered.
    const during = perAck.slice(2);
    const sent = during.reduce((a, b) => a + b, 0);
    assert(
      sent >= 0.5 * during.length && sent <= 0.9 * during.length + 1,
      `sent ${sent} for ${during.length} delivered: ${perAck}`,
    );
    const tlp = await scenario(r, "tlp");
    assert(tlp.probe_is_last, `the probe repeats the last MSS: ${JSON.stringify(tlp)}`);
    const d = tlp.delta_ms as number;
    assert(d >= 60 && d < 190, `probe ${d} ms after the tail (2 SRTT + 2 = 82 ms; RTO 200 ms)`);
    const c = await counters(r);
    assert((c["tcp.tlp_probes"] ?? 0) >= 1, JSON.stringify(c));
  },
);

netnsTest(
  "packet peer: fragmentation needed counts only with a sequence number in flight",
  async (t) => {
    const r = await build(t);
    const bad = await scenario(r, "frag_needed", "invalid");
    assertEquals(bad.before, 1448);
    assert((bad.after as number[]).includes(1448), `MSS unchanged: ${JSON.stringify(bad)}`);
    let c = await counters(r);
    assert((c["tcp.icmp_out_of_window"] ?? 0) >= 1, JSON.stringify(c));
    assertEquals(c["tcp.pmtu_reduced"] ?? 0, 0);
    const good = await scenario(r, "frag_needed", "valid");
    const sizes = [...good.resent as number[], ...good.after as number[]];
    assert(sizes.length > 0 && sizes.every((n) => n <= 1200 - 52), JSON.stringify(good));
    c = await counters(r);
    assertEquals(c["tcp.pmtu_reduced"], 1, JSON.stringify(c));
  },
);

netnsTest("packet peer: a window too small to fill waits for the SWS override timer", async (t) => {
  const r = await build(t);
  const s = await scenario(r, "sws");
  const d = s.delta_ms as number;
  assert(d >= 150 && d < 1500, `sent ${d} ms after the small window (override: the RTO)`);
  assert((s.len as number) <= 512, JSON.stringify(s));
  const c = await counters(r);
  assert((c["tcp.sws_override"] ?? 0) >= 1, JSON.stringify(c));
});

netnsTest("packet peer: past --max-time-wait a closing connection skips TIME_WAIT", async (t) => {
  const r = await build(t, ["--max-time-wait", "1"]);
  for (let i = 0; i < 2; i++) {
    const s = await scenario(r, "close_after");
    assert(s.final_ack, JSON.stringify(s));
  }
  const c = await counters(r);
  assertEquals(c["tcp.time_wait_overflow"], 1, JSON.stringify(c));
  const ns = await t.lbRun(["netstat", "--control", r.control]);
  assertEquals((ns.stdout.match(/TIME_WAIT/g) ?? []).length, 1, ns.stdout);
});
