/**
 * HyStart++ (RFC 9406) in CUBIC's initial slow start, driven round by round: every segment of a
 * round is acknowledged one by one with that round's RTT.
 */
import { assert, assertEquals } from "../../../assert.ts";
import { Cubic } from "../../../../stack/tcp/congestion/cubic.ts";
import { INITIAL_SSTHRESH } from "../../../../stack/tcp/congestion/cc.ts";
import { CSS_ROUNDS } from "../../../../stack/tcp/congestion/hystart.ts";

const MSS = 1000;

/** A sender with 10 segments of initial window; `round(rtt)` acknowledges one round. */
function sender(hystart = true) {
  const cc = new Cubic(hystart);
  const w = {
    cwnd: 10 * MSS,
    ssthresh: INITIAL_SSTHRESH,
    mss: MSS,
    sndUna: 0,
    sndMax: 0,
    latestRtt: 0,
  };
  let now = 0;
  /** Sends a window, then acknowledges it segment by segment; returns cwnd in segments. */
  const round = (rtt: number): number => {
    const segs = Math.floor(w.cwnd / MSS);
    w.sndMax = w.sndUna + segs * MSS;
    now += rtt;
    for (let i = 0; i < segs; i++) {
      w.sndUna += MSS;
      w.latestRtt = rtt;
      cc.onAck(w, MSS, now, rtt);
    }
    return w.cwnd / MSS;
  };
  return { cc, w, round };
}

Deno.test("HyStart++: a steady RTT is plain slow start (the window doubles per round)", () => {
  const { cc, w, round } = sender();
  assertEquals(round(20), 20);
  assertEquals(round(20), 40);
  assertEquals(round(21), 80);
  assert(!cc.hystart!.inCss);
  assertEquals(w.ssthresh, INITIAL_SSTHRESH);
});

Deno.test("HyStart++: a rising RTT moves to CSS (a quarter of the growth), then to avoidance", () => {
  const { cc, w, round } = sender();
  round(20);
  round(20);
  // 20 ms + max(4, min(20 / 8, 16)) = 24 ms: the threshold.
  const before = round(24);
  assert(cc.hystart!.inCss, "the RTT rose by RttThresh: Conservative Slow Start");
  assertEquals(cc.hystart!.cssEntries, 1);
  const css = round(24) - before;
  assert(css <= before / 4 + 1, `CSS grew ${css} segments from ${before}`);
  for (let i = 0; i < CSS_ROUNDS; i++) round(24);
  assert(cc.hystart!.done, "after CSS_ROUNDS rounds of CSS, congestion avoidance");
  // ssthresh = cwnd when CSS ended; the rest of that round grew it as congestion avoidance.
  assert(w.ssthresh < INITIAL_SSTHRESH && w.ssthresh <= w.cwnd, `${w.ssthresh} ${w.cwnd}`);
  assert(w.cwnd - w.ssthresh < w.ssthresh / 10, "avoidance grows slowly");
});

Deno.test("HyStart++: an RTT that falls back below the baseline resumes slow start", () => {
  const { cc, round } = sender();
  round(20);
  round(20);
  round(30);
  assert(cc.hystart!.inCss);
  const w1 = round(20);
  assert(!cc.hystart!.inCss, "the rise was not a queue");
  assertEquals(round(20), 2 * w1, "slow start again");
});

Deno.test("HyStart++ off (tcp.hystart false): slow start until ssthresh or a loss", () => {
  const { cc, w, round } = sender(false);
  round(20);
  round(20);
  round(40);
  assertEquals(round(60), 160);
  assertEquals(cc.hystart, null);
  assertEquals(w.ssthresh, INITIAL_SSTHRESH);
});
