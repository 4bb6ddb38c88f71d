/**
 * The schedulers, and {@link createScheduler} to make one by its ipvsadm name.
 *
 * @module
 */

import { LeastConnectionScheduler } from "./lc.ts";
import { MaglevScheduler } from "./mh.ts";
import { RoundRobinScheduler } from "./rr.ts";
import { type Scheduler, SCHEDULER_NAMES, type SchedulerOptions } from "./scheduler.ts";
import { SourceHashScheduler } from "./sh.ts";
import { WeightedLeastConnectionScheduler } from "./wlc.ts";
import { WeightedRoundRobinScheduler } from "./wrr.ts";

export type { Scheduler, SchedulerName, SchedulerOptions } from "./scheduler.ts";
export { SCHEDULER_NAMES } from "./scheduler.ts";
export { RoundRobinScheduler } from "./rr.ts";
export { WeightedRoundRobinScheduler } from "./wrr.ts";
export { connOverhead, LeastConnectionScheduler } from "./lc.ts";
export { WeightedLeastConnectionScheduler } from "./wlc.ts";
export { SH_TABLE_SIZE, shBucket, SourceHashScheduler } from "./sh.ts";
export { isPrime, MaglevScheduler, MH_DEFAULT_TABLE_SIZE, populate } from "./mh.ts";

/**
 * A new scheduler by ipvsadm name ("rr", "wrr", "lc", "wlc", "sh", "mh"). Throws an Error that
 * lists the valid names when `name` is not one of them, and a RangeError for a bad mh table size.
 */
export function createScheduler(name: string, options: SchedulerOptions = {}): Scheduler {
  switch (name) {
    case "rr":
      return new RoundRobinScheduler();
    case "wrr":
      return new WeightedRoundRobinScheduler();
    case "lc":
      return new LeastConnectionScheduler();
    case "wlc":
      return new WeightedLeastConnectionScheduler();
    case "sh":
      return new SourceHashScheduler();
    case "mh":
      return new MaglevScheduler(options);
    default:
      throw new Error(`unknown scheduler "${name}"; valid: ${SCHEDULER_NAMES.join(", ")}`);
  }
}
