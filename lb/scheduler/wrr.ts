/**
 * Weighted round robin (IPVS `ip_vs_wrr.c`), the interleaved variant: passes over the server list
 * with a current weight `cw` that starts at the maximum weight and drops by the weights' gcd
 * after each pass; a pass picks every server whose weight is at least `cw`. With weights 4, 3, 2
 * one cycle is a, a b, a b c, a b c: each server gets its weight's share, spread out rather
 * than in bursts.
 *
 * @module
 */

import type { RealServer } from "../service.ts";
import { effectiveWeight, gcd, type Scheduler, type SchedulerName } from "./scheduler.ts";

/** Weighted round-robin scheduler. */
export class WeightedRoundRobinScheduler implements Scheduler {
  /** "wrr". */
  readonly name: SchedulerName = "wrr";
  #reals: RealServer[] = [];
  /** Last picked index; -1 is the list head (IPVS `mark->cl`). */
  #cl = -1;
  /** Current weight. */
  #cw = 0;
  /** Maximum weight, minus (di - 1) so the last pass is cw = 1. */
  #mw = 0;
  /** Decreasing interval: gcd of the positive weights. */
  #di = 1;

  /** Recomputes gcd and maximum weight (IPVS `ip_vs_wrr_dest_changed`). */
  update(reals: readonly RealServer[]): void {
    this.#reals = reals.slice();
    let g = 0;
    let max = 0;
    for (const r of this.#reals) {
      const w = effectiveWeight(r);
      if (w > 0) g = g > 0 ? gcd(w, g) : w;
      if (w > max) max = w;
    }
    this.#cl = -1;
    this.#di = g > 0 ? g : 1;
    this.#mw = max - (this.#di - 1);
    if (this.#cw > this.#mw || this.#cw === 0) this.#cw = this.#mw;
    else if (this.#di > 1) this.#cw = Math.floor(this.#cw / this.#di) * this.#di + 1;
  }

  /** The next server in the interleaved weighted cycle, or null (IPVS `ip_vs_wrr_schedule`). */
  pick(_clientIp: number, _clientPort: number): RealServer | null {
    if (this.#mw <= 0) return null;
    const reals = this.#reals;
    const n = reals.length;
    const last = this.#cl;
    let i = last;
    let stop = -2;
    let lastPass = false;
    let restarted = false;
    // Terminates: every wrap lowers cw by di; after cw reaches 1 (the last pass) from a start
    // that was not the head, `stop` ends the following traversal; from the head, cw <= 0 does.
    for (;;) {
      for (i = i + 1; i < n; i++) {
        const r = reals[i];
        if (r.available && r.weight >= this.#cw) {
          this.#cl = i;
          return r;
        }
        if (i === stop) {
          this.#cl = i;
          return null;
        }
      }
      i = -1;
      this.#cw -= this.#di;
      if (this.#cw <= 0) {
        this.#cw = this.#mw;
        if (lastPass || last === -1) {
          this.#cl = -1;
          return null;
        }
        restarted = true;
      }
      lastPass = this.#cw <= this.#di;
      if (lastPass && restarted && last !== -1) stop = last;
    }
  }
}
