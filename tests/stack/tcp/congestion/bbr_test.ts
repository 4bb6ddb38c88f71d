/**
 * BBR v1 against a fluid model of one bottleneck: B octets/ms, a propagation RTT of R ms and an
 * unbounded queue. Each round the sender has min(cwnd, what it has) in flight; the path delivers
 * it in max(R, inflight / B) ms (a queue forms beyond one BDP), and the round's ACK carries the
 * delivery-rate sample the stack would compute.
 */
import { assert, assertEquals } from "../../../assert.ts";
import {
  Bbr,
  BBR_MIN_CWND_SEGMENTS,
  BBR_PROBE_RTT_MS,
  DRAIN,
  PROBE_BW,
  PROBE_RTT,
  STARTUP,
} from "../../../../stack/tcp/congestion/bbr.ts";
import { CA_OPEN, CA_RECOVERY, type CaState } from "../../../../stack/tcp/congestion/cc.ts";
import type { RateSample } from "../../../../stack/tcp/delivery_rate.ts";

const MSS = 1000;
const B = 1000; // octets per ms: 8 Mbit/s
const R = 20; // ms
const BDP = B * R; // 20 segments

function path(cc = new Bbr()) {
  cc.random = () => 0.5;
  const w = { cwnd: 10 * MSS, ssthresh: 0x7fffffff, mss: MSS };
  let now = 0;
  let delivered = 0;
  /** One round: returns the RTT it took. `losses` octets of it are reported lost. */
  const round = (opts: { losses?: number; state?: CaState; appLimit?: number } = {}) => {
    const inflight = Math.min(w.cwnd, opts.appLimit ?? Infinity);
    const rtt = Math.max(R, inflight / B);
    now += rtt;
    const got = inflight - (opts.losses ?? 0);
    const rs: RateSample = {
      priorDelivered: delivered,
      delivered: got,
      interval: rtt,
      // The stack marks samples application-limited while BBR itself holds the window down.
      appLimited: opts.appLimit !== undefined || cc.appLimited,
      rtt,
      ackedSacked: got,
      losses: opts.losses ?? 0,
      priorInFlight: inflight,
    };
    delivered += got;
    // The pipe stays full: the ACK's octets are replaced by new ones at once.
    cc.control(w, rs, inflight, delivered, opts.state ?? CA_OPEN, now);
    return rtt;
  };
  return { cc, w, round, time: () => now };
}

Deno.test("BBR: STARTUP doubles, finds the bottleneck, drains the queue, and keeps ~2 BDP", () => {
  const { cc, w, round } = path();
  const windows: number[] = [];
  const modes = new Set<number>();
  for (let i = 0; i < 4; i++) {
    round();
    windows.push(w.cwnd / MSS);
    modes.add(cc.mode);
  }
  // Doubling per round, up to high_gain (2.89) x BDP once the bandwidth is measured.
  assertEquals(windows, [20, 40, 80, 80], "STARTUP: the window doubles per round");
  let rounds = 4;
  while (cc.mode !== PROBE_BW && rounds < 30) {
    round();
    modes.add(cc.mode);
    rounds++;
  }
  assert(cc.fullBwReached, "the bandwidth stopped growing by 25% for three rounds");
  assertEquals(cc.bw.value, B, "the bottleneck bandwidth, octets/ms");
  assertEquals(cc.minRtt, R);
  assertEquals([...modes], [STARTUP, DRAIN, PROBE_BW], "the queue drained: one BDP in flight");
  for (let i = 0; i < 16; i++) round();
  // cwnd_gain 2 x BDP, plus 3 segments of allowance (and 2 more in the probing phase).
  assert(w.cwnd >= 2 * BDP && w.cwnd <= 2 * BDP + 5 * MSS, `cwnd ${w.cwnd / MSS} segments`);
});

Deno.test("BBR: random loss is not congestion; a recovery conserves packets, then restores", () => {
  const { cc, w, round } = path();
  for (let i = 0; i < 30; i++) round();
  assertEquals(cc.mode, PROBE_BW);
  const before = w.cwnd;
  // 3% of a window lost, as random loss on a link: the window loses those octets, not half.
  round({ losses: 0.03 * before, state: CA_RECOVERY });
  assert(w.cwnd >= 0.9 * before, `cwnd ${w.cwnd} after a 3% loss (was ${before})`);
  round({ state: CA_RECOVERY });
  round({ state: CA_OPEN });
  assert(w.cwnd >= before, `restored after the recovery: ${w.cwnd} >= ${before}`);
  assert(Math.abs(cc.bw.value - B) < 1e-9, `the bandwidth estimate is untouched: ${cc.bw.value}`);
});

Deno.test("BBR: application-limited samples do not lower the bandwidth estimate", () => {
  const { cc, round } = path();
  for (let i = 0; i < 30; i++) round();
  for (let i = 0; i < 12; i++) round({ appLimit: 2 * MSS });
  assertEquals(cc.bw.value, B, "12 rounds of app-limited samples, the maximum kept");
});

Deno.test("BBR: after 10 s without a lower RTT, PROBE_RTT holds 4 segments for 200 ms", () => {
  const { cc, w, round, time } = path();
  for (let i = 0; i < 30; i++) round();
  const probeBw = w.cwnd;
  // Keep going at a steady queue: the RTT never falls below the first measurement again.
  let rounds = 0;
  while (cc.mode !== PROBE_RTT && rounds < 2000) {
    round();
    rounds++;
  }
  assertEquals(cc.mode, PROBE_RTT);
  assert(time() > 10_000, "not before the minimum RTT is 10 s old");
  assertEquals(w.cwnd, BBR_MIN_CWND_SEGMENTS * MSS);
  const start = time();
  while (cc.mode === PROBE_RTT && time() - start < 5 * BBR_PROBE_RTT_MS) round();
  assertEquals(cc.mode, PROBE_BW);
  assert(time() - start >= BBR_PROBE_RTT_MS, "held at least 200 ms");
  assert(w.cwnd >= 2 * BDP && probeBw >= 2 * BDP, `the window is back: ${w.cwnd / MSS}`);
});
