/**
 * The scheduler interface every balancing algorithm implements (IPVS `struct ip_vs_scheduler`):
 * told about the real servers whenever they change, asked for one server per new flow.
 *
 * @module
 */

import type { RealServer } from "../service.ts";

/** The schedulers lb.ts has, named as ipvsadm `-s` names them. */
export type SchedulerName = "rr" | "wrr" | "lc" | "wlc" | "sh" | "mh";

/** Every scheduler name, in the order errors and help list them. */
export const SCHEDULER_NAMES: readonly SchedulerName[] = ["rr", "wrr", "lc", "wlc", "sh", "mh"];

/** Options some schedulers take; the others ignore them. */
export interface SchedulerOptions {
  /**
   * mh only: hash the client port with the address (default true, IPVS `-b sh-port`), so one
   * client's many connections spread over the servers; false hashes the address only, so a
   * client sticks to one server.
   */
  port?: boolean;
  /** mh only: lookup table size, a prime (default 65537, as in the Maglev paper). */
  tableSize?: number;
}

/** A balancing algorithm. */
export interface Scheduler {
  /** The algorithm's ipvsadm name. */
  readonly name: SchedulerName;
  /**
   * Takes the current real servers. Called whenever the set, a weight or an availability
   * changes; the scheduler keeps its own copy of the list (its order matters to rr and wrr).
   */
  update(reals: readonly RealServer[]): void;
  /**
   * The real server for a new flow from (clientIp, clientPort), or null when no server takes new
   * flows (all weights 0 or unavailable). Allocates nothing. A server with weight 0 or
   * `available = false` is never returned.
   */
  pick(clientIp: number, clientPort: number): RealServer | null;
}

/** Greatest common divisor of two positive integers (Euclid). */
export function gcd(a: number, b: number): number {
  while (b !== 0) {
    const t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/**
 * The weight a scheduler plans with: the configured weight, or 0 when the server is unavailable
 * (health checks make a server "like weight 0 for new flows").
 */
export function effectiveWeight(real: RealServer): number {
  return real.available ? real.weight : 0;
}
