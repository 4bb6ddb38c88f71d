/** CUBIC (RFC 9438) window growth against the RFC's formulas. */
import { assert, assertEquals } from "../../../assert.ts";
import {
  Cubic,
  CUBIC_ALPHA,
  CUBIC_BETA,
  CUBIC_C,
  cubicK,
  wCubic,
} from "../../../../stack/tcp/congestion/cubic.ts";

const MSS = 1000;

Deno.test("RFC 9438 constants and formulas: C = 0.4, beta = 0.7, K, W_cubic", () => {
  assertEquals(CUBIC_C, 0.4);
  assertEquals(CUBIC_BETA, 0.7);
  assert(Math.abs(CUBIC_ALPHA - 3 * 0.3 / 1.7) < 1e-12);
  // K = cbrt(W_max (1 - beta) / C) when cwnd_epoch = beta W_max.
  assert(Math.abs(cubicK(100, 70) - Math.cbrt(75)) < 1e-12);
  assertEquals(wCubic(cubicK(100, 70), cubicK(100, 70), 100), 100);
  assert(Math.abs(wCubic(0, cubicK(100, 70), 100) - 70) < 1e-9, "W_cubic(0) = cwnd_epoch");
  assertEquals(cubicK(50, 60), 0);
});

Deno.test("a loss: W_max = cwnd, ssthresh = 0.7 cwnd; fast convergence lowers W_max", () => {
  const c = new Cubic();
  const w = { cwnd: 100 * MSS, ssthresh: 0x7fffffff, mss: MSS };
  c.onLoss(w, 100 * MSS, 0);
  assertEquals(c.wMax, 100);
  assertEquals(w.ssthresh, 70 * MSS);
  // A second loss below the previous W_max: W_max = cwnd (1 + beta) / 2 (RFC 9438 4.7).
  w.cwnd = 80 * MSS;
  c.onLoss(w, 80 * MSS, 0);
  assertEquals(c.wMax, 80 * 1.7 / 2);
  assertEquals(w.ssthresh, 56 * MSS);
});

/** Runs ACK clocking: every RTT the whole window is ACKed in one-segment ACKs. */
function run(
  c: Cubic,
  w: { cwnd: number; ssthresh: number; mss: number },
  rttMs: number,
  untilMs: number,
  start: number,
) {
  const trace: [number, number][] = [];
  for (let now = start; now <= untilMs; now += rttMs) {
    const segs = Math.floor(w.cwnd / MSS);
    for (let i = 0; i < segs; i++) c.onAck(w, MSS, now, rttMs);
    trace.push([now, w.cwnd / MSS]);
  }
  return trace;
}

Deno.test("concave then convex growth: cwnd follows W_cubic(t) and reaches W_max at t = K", () => {
  const c = new Cubic();
  const w = { cwnd: 100 * MSS, ssthresh: 0x7fffffff, mss: MSS };
  c.onLoss(w, 100 * MSS, 0);
  w.cwnd = w.ssthresh; // recovery ends with cwnd = ssthresh = 70
  const rtt = 100; // long enough RTT that the cubic region, not Reno-friendliness, governs
  const k = Math.cbrt(100 * (1 - CUBIC_BETA) / CUBIC_C); // 4.217 s
  const trace = run(c, w, rtt, 8000, 0);
  for (const [t, cwnd] of trace) {
    const expected = wCubic(t / 1000 + rtt / 1000, k, 100); // the target one RTT ahead
    const reno = 70 + CUBIC_ALPHA * (t / rtt); // rough W_est
    const bound = Math.max(expected, reno);
    // Per-ACK updates toward the target stay within 5% of the curve at every RTT.
    assert(Math.abs(cwnd - bound) / bound < 0.05, `t=${t} cwnd ${cwnd} expected ~${bound}`);
  }
  const atK = trace.find(([t]) => t >= k * 1000)![1];
  assert(Math.abs(atK - 100) < 3, `cwnd at K: ${atK}`);
  // Concave: growth per RTT shrinks toward K; convex: it grows after.
  const g = (t: number) => {
    const i = trace.findIndex(([x]) => x >= t);
    return trace[i + 1][1] - trace[i][1];
  };
  assert(g(500) > g(3500), "slowing down toward W_max");
  assert(g(7500) > g(4500), "speeding up beyond W_max");
  const at8 = trace[trace.length - 1][1];
  assert(Math.abs(at8 - wCubic(8.1, k, 100)) / at8 < 0.05, `cwnd at 8 s: ${at8}`);
});

Deno.test("short RTT: the Reno-friendly estimate W_est governs (RFC 9438 4.3)", () => {
  const c = new Cubic();
  const w = { cwnd: 100 * MSS, ssthresh: 0x7fffffff, mss: MSS };
  c.onLoss(w, 100 * MSS, 0);
  w.cwnd = w.ssthresh;
  const trace = run(c, w, 1, 200, 0); // 1 ms RTT, 200 RTTs
  const cwnd = trace[trace.length - 1][1];
  // W_est: +alpha per RTT until cwnd_prior (100), then +1 per RTT: far above W_cubic(0.2 s).
  const k = Math.cbrt(75);
  assert(cwnd > wCubic(0.2, k, 100) + 20, `cwnd ${cwnd} follows W_est, not W_cubic`);
  const rttsToPrior = 30 / CUBIC_ALPHA; // 70 -> 100 at alpha per RTT
  const expected = 100 + (200 - rttsToPrior);
  assert(Math.abs(cwnd - expected) < 6, `cwnd ${cwnd} ~ W_est ${expected}`);
});

Deno.test("slow start below ssthresh; a timeout leaves one segment", () => {
  const c = new Cubic();
  const w = { cwnd: 10 * MSS, ssthresh: 0x7fffffff, mss: MSS };
  c.onAck(w, 10 * MSS, 0, 10);
  assertEquals(w.cwnd, 20 * MSS);
  c.onRto(w, 20 * MSS, 0);
  assertEquals(w.cwnd, MSS);
  assertEquals(w.ssthresh, 14 * MSS);
});
