/**
 * Graceful drain of a whole instance (SIGTERM, `lb.ts drain --all`): withdraw every VIP first,
 * then keep forwarding while the router still sends anything, and return once it has stopped
 * (no packet to a service for `quietMs`) or the timeout has passed.
 *
 * Why "no packets" and not "no active connections": once the routes are withdrawn, the router
 * hashes this instance's flows onto the others, and with `mh` those forward them to the same real
 * servers (the Maglev choice needs no state), so established flows go on *elsewhere* while their
 * entries here just age. What this instance must not do is vanish while packets still come.
 *
 * @module
 */
import type { BalancerSnapshot } from "../balancer.ts";

/** Default wait for the router to stop sending (and flows to end). */
export const DEFAULT_DRAIN_TIMEOUT_MS = 30_000;
/** How long without a packet counts as "the router has stopped sending". */
export const DRAIN_QUIET_MS = 2000;

/** Packets the balancer has received for its services so far. */
export function packetsIn(snap: BalancerSnapshot): number {
  let n = 0;
  for (const s of snap.services) n += s.packetsIn;
  return n;
}

/** Flows the balancer has scheduled so far (every service's connection count). */
export function flowsSeen(snap: BalancerSnapshot): number {
  let n = 0;
  for (const s of snap.services) n += s.conns;
  return n;
}

/** What the drain needs. */
export interface DrainOptions {
  /** Withdraws every VIP (null without --bgp: nothing to withdraw). */
  withdraw: (() => Promise<void>) | null;
  snapshot: () => BalancerSnapshot;
  log: (event: string, message: string, fields?: Record<string, unknown>) => void;
  timeoutMs: number;
  quietMs?: number;
}

/** Runs the drain; resolves when the instance may stop. */
export async function drainInstance(o: DrainOptions): Promise<void> {
  const quietMs = o.quietMs ?? DRAIN_QUIET_MS;
  const start = Date.now();
  if (o.withdraw !== null) await o.withdraw();
  o.log(
    "drain",
    `draining: VIPs withdrawn, forwarding until no packet comes for ${quietMs / 1000} s ` +
      `(at most ${o.timeoutMs / 1000} s)`,
    { timeoutMs: o.timeoutMs },
  );
  const flowsAtWithdraw = flowsSeen(o.snapshot());
  // How many flows still started here after the withdrawal (the router's update is not instant).
  const late = () =>
    `${flowsSeen(o.snapshot()) - flowsAtWithdraw} new flow(s) after the withdrawal`;
  let last = packetsIn(o.snapshot());
  let lastChange = Date.now();
  const deadline = start + o.timeoutMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    const now = packetsIn(o.snapshot());
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange >= quietMs) {
      o.log("drained", `drained in ${((Date.now() - start) / 1000).toFixed(1)} s, ${late()}`);
      return;
    }
  }
  o.log(
    "drain_timeout",
    `drain timeout (${o.timeoutMs / 1000} s): stopping with packets still coming, ${late()}`,
  );
}
