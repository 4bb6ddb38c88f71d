/**
 * Least connection (IPVS `ip_vs_lc.c`): the server with the least overhead, where overhead is
 * activeConns * 256 + inactiveConns (IPVS `ip_vs_dest_conn_overhead`: an established flow costs
 * far more than one in TIME_WAIT). Ties go to the first in list order.
 *
 * @module
 */

import type { RealServer } from "../service.ts";
import type { Scheduler, SchedulerName } from "./scheduler.ts";

/** IPVS's per-server load estimate: active flows weigh 256 inactive ones. */
export function connOverhead(real: RealServer): number {
  return real.activeConns * 256 + real.inactiveConns;
}

/** Least-connection scheduler (weights only matter as zero or not). */
export class LeastConnectionScheduler implements Scheduler {
  /** "lc". */
  readonly name: SchedulerName = "lc";
  #reals: RealServer[] = [];

  /** Takes the new list. */
  update(reals: readonly RealServer[]): void {
    this.#reals = reals.slice();
  }

  /** The server with the least overhead among those taking new flows, or null. */
  pick(_clientIp: number, _clientPort: number): RealServer | null {
    const reals = this.#reals;
    let least: RealServer | null = null;
    let loh = 0;
    for (let i = 0; i < reals.length; i++) {
      const r = reals[i];
      if (!r.available || r.weight === 0) continue;
      const doh = connOverhead(r);
      if (least === null || doh < loh) {
        least = r;
        loh = doh;
      }
    }
    return least;
  }
}
