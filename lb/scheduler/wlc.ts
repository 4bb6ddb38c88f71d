/**
 * Weighted least connection (IPVS `ip_vs_wlc.c`, ipvsadm's default): the server with the least
 * overhead / weight, compared cross-multiplied (h1 * w2 > h2 * w1) as the kernel does without
 * division. Overhead is activeConns * 256 + inactiveConns. Ties go to the first in list order.
 *
 * @module
 */

import type { RealServer } from "../service.ts";
import type { Scheduler, SchedulerName } from "./scheduler.ts";
import { connOverhead } from "./lc.ts";

/** Weighted least-connection scheduler. */
export class WeightedLeastConnectionScheduler implements Scheduler {
  /** "wlc". */
  readonly name: SchedulerName = "wlc";
  #reals: RealServer[] = [];

  /** Takes the new list. */
  update(reals: readonly RealServer[]): void {
    this.#reals = reals.slice();
  }

  /** The server with the least overhead per unit of weight, or null. */
  pick(_clientIp: number, _clientPort: number): RealServer | null {
    const reals = this.#reals;
    let least: RealServer | null = null;
    let loh = 0;
    for (let i = 0; i < reals.length; i++) {
      const r = reals[i];
      if (!r.available || r.weight <= 0) continue;
      const doh = connOverhead(r);
      // loh/lw > doh/dw  <=>  loh*dw > doh*lw (weights > 0). Products stay below 2^53 for
      // any realistic count (overhead < 2^37 with a million active flows, weight < 2^16).
      if (least === null || loh * r.weight > doh * least.weight) {
        least = r;
        loh = doh;
      }
    }
    return least;
  }
}
