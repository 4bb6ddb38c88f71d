/**
 * Round robin (IPVS `ip_vs_rr.c`): each new flow goes to the next server in list order that takes
 * new flows, wrapping around; weights only matter as zero (quiesced) or not.
 *
 * @module
 */

import type { RealServer } from "../service.ts";
import type { Scheduler, SchedulerName } from "./scheduler.ts";

/** Round-robin scheduler. */
export class RoundRobinScheduler implements Scheduler {
  /** "rr". */
  readonly name: SchedulerName = "rr";
  #reals: RealServer[] = [];
  /** Index of the server picked last; -1 = before the first. */
  #last = -1;

  /** Takes the new list, keeping the position in the cycle as IPVS does. */
  update(reals: readonly RealServer[]): void {
    const prev = this.#last >= 0 ? this.#reals[this.#last] : undefined;
    this.#reals = reals.slice();
    if (prev === undefined) {
      this.#last = -1;
      return;
    }
    const at = this.#reals.indexOf(prev);
    // ip_vs_rr_del_dest: when the current server goes, step back to the one before it, so the
    // next pick is the server that followed the removed one.
    this.#last = at >= 0 ? at : Math.min(this.#last, this.#reals.length) - 1;
  }

  /** The next server after the last one picked that takes new flows, or null. */
  pick(_clientIp: number, _clientPort: number): RealServer | null {
    const reals = this.#reals;
    const n = reals.length;
    for (let k = 1; k <= n; k++) {
      const i = (this.#last + k) % n;
      const r = reals[i];
      if (r.available && r.weight > 0) {
        this.#last = i;
        return r;
      }
    }
    return null;
  }
}
