/**
 * Health checks for every real server of a balancer: one {@link HealthChecker} per (service,
 * real server), all driven by the stack's tick. The probes run from the userspace stack itself
 * (`Stack.connect`) to the real server's own address and port (for DR too: the check must reach
 * the server, not the VIP that only the balancer answers for).
 *
 * The flags are global (`lb.ts run --check ...` applies to every TCP service): UDP services are
 * not checked, since a TCP or HTTP probe says nothing about a UDP port. Servers added or removed
 * at run time (admin verbs, reload) are picked up on the next tick.
 *
 * @module
 */

import type { Balancer } from "../balancer.ts";
import type { RealServer, VirtualService } from "../service.ts";
import { formatIpv4 } from "../../stack/wire/address.ts";
import { type CheckSpec, HealthChecker, type HealthEvent, type HealthTiming } from "./checker.ts";
import { httpCheck } from "./http_check.ts";
import { type Connector, tcpCheck } from "./tcp_check.ts";

/** What {@link startHealthChecks} takes. */
export interface HealthConfig {
  /** The probe: TCP connect or HTTP GET. */
  check: CheckSpec;
  /** Interval and rise/fall thresholds. */
  timing: HealthTiming;
  /** Per-probe timeout in milliseconds (the whole connect + request + status line). */
  timeoutMs: number;
}

/** The running checks; `stop()` removes them from the tick. */
export interface HealthMonitor {
  /** The current checkers, one per (TCP service, real server), in service order. */
  checkers(): HealthChecker[];
  /** Stops ticking (a probe in flight finishes and is still applied). */
  stop(): void;
}

interface Entry {
  service: VirtualService;
  checker: HealthChecker;
  /** The sync generation that last saw the pair. */
  gen: number;
}

/**
 * Starts health checks for every real server of every TCP service of `balancer`. The set of
 * checked servers follows the configuration: every tick (control path, 10 Hz) a server added
 * since (admin verb, reload) gets a checker, whose first probe runs at once, and a removed one
 * loses its checker.
 */
export function startHealthChecks(
  balancer: Balancer,
  config: HealthConfig,
  onChange: (event: HealthEvent) => void,
): HealthMonitor {
  const stack = balancer.stack;
  const connect: Connector = (o) => stack.connect(o);
  const entries = new Map<RealServer, Entry>();
  let gen = 0;
  const create = (service: VirtualService, real: RealServer): HealthChecker => {
    const target = {
      hostname: formatIpv4(real.address),
      port: service.realPort(real),
      timeoutMs: config.timeoutMs,
    };
    const check = config.check;
    return new HealthChecker({
      service,
      real,
      clock: stack.clock,
      timing: config.timing,
      probe: check.kind === "tcp"
        ? () => tcpCheck(connect, target)
        : () => httpCheck(connect, target, check.path, check.status),
      onChange,
      names: {
        service: `tcp ${formatIpv4(service.vip)}:${service.port}`,
        real: `${target.hostname}:${target.port}`,
      },
    });
  };
  const sync = (): void => {
    gen++;
    for (const service of balancer.services.list()) {
      if (service.protocol !== "tcp") continue;
      for (const real of service.reals) {
        let e = entries.get(real);
        if (e === undefined || e.service !== service) {
          e = { service, checker: create(service, real), gen };
          entries.set(real, e);
        }
        e.gen = gen;
      }
    }
    for (const [real, e] of entries) if (e.gen !== gen) entries.delete(real);
  };
  sync();
  const untick = stack.onTick(() => {
    sync();
    // Each tick starts the probes that are due; their results apply when they settle.
    for (const e of entries.values()) e.checker.tick();
  });
  return { checkers: () => [...entries.values()].map((e) => e.checker), stop: untick };
}
