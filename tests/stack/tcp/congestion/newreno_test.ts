/** NewReno (RFC 5681) window arithmetic. */
import { assertEquals } from "../../../assert.ts";
import { NewReno } from "../../../../stack/tcp/congestion/newreno.ts";

const MSS = 1000;

Deno.test("slow start doubles per window, stops at ssthresh; then +1 SMSS per window", () => {
  const r = new NewReno();
  const w = { cwnd: 2 * MSS, ssthresh: 8 * MSS, mss: MSS };
  r.onAck(w, 2 * MSS, 0, 0);
  assertEquals(w.cwnd, 4 * MSS);
  r.onAck(w, 4 * MSS, 0, 0);
  assertEquals(w.cwnd, 8 * MSS);
  // Congestion avoidance: one SMSS per cwnd of acknowledged data (RFC 5681 3.1, RFC 3465).
  for (let i = 0; i < 7; i++) r.onAck(w, MSS, 0, 0);
  assertEquals(w.cwnd, 8 * MSS);
  r.onAck(w, MSS, 0, 0);
  assertEquals(w.cwnd, 9 * MSS);
});

Deno.test("RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 SMSS); RTO: cwnd = 1 SMSS", () => {
  const r = new NewReno();
  const w = { cwnd: 20 * MSS, ssthresh: 0x7fffffff, mss: MSS };
  r.onLoss(w, 20 * MSS, 0);
  assertEquals(w.ssthresh, 10 * MSS);
  r.onLoss(w, 3 * MSS, 0);
  assertEquals(w.ssthresh, 2 * MSS);
  r.onRto(w, 12 * MSS, 0);
  assertEquals(w.ssthresh, 6 * MSS);
  assertEquals(w.cwnd, MSS);
});
