/**
 * Health checks for every real server of a balancer: one {@link HealthChecker} per (service,
 * real server), all driven by the stack's tick. The probes run from the userspace stack itself
 * (`Stack.connect`) to the real server's own address and port (for DR too: the check must reach
 * the server, not the VIP that only the balancer answers for).
 *
 * Each TCP service has its own check or none (`configOf`: the global one, or the service's own
 * from its `--service` group or its `"health"` in the config file). UDP services are not
 * checked, since a TCP or HTTP probe says nothing about a UDP port. Servers added or removed at
 * run time (admin verbs, reload) are picked up on the next tick, and so is a service whose check
 * changed (a new config object): its checkers start anew, and servers the old check had taken
 * down come back up until the new one says otherwise (as when the checks start).
 *
 * @module
 */

import { formatIpv6 } from "../../stack/wire/address6.ts";
import type { Balancer } from "../balancer.ts";
import type { RealServer, VirtualService } from "../service.ts";
import { formatIpv4 } from "../../stack/wire/address.ts";
import { formatAddressPort } from "../address.ts";
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
  /**
   * Stops ticking and puts every server it had taken down back into scheduling (nothing checks
   * them any more); a probe still in flight applies nothing.
   */
  stop(): void;
}

interface Entry {
  service: VirtualService;
  /** The configuration the checker was made with. */
  config: HealthConfig;
  checker: HealthChecker;
  /** The sync generation that last saw the pair. */
  gen: number;
}

/**
 * Starts health checks for every real server of every TCP service of `balancer` that
 * `configOf` gives a check (a HealthConfig: the same for every service). The set of checked
 * servers follows the configuration: every tick (control path, 10 Hz) a server added since
 * (admin verb, reload) gets a checker, whose first probe runs at once, a removed one loses its
 * checker, and a service whose check changed (another object from `configOf`) gets new ones.
 */
export function startHealthChecks(
  balancer: Balancer,
  configOf: HealthConfig | ((service: VirtualService) => HealthConfig | null),
  onChange: (event: HealthEvent) => void,
): HealthMonitor {
  const cfgOf = typeof configOf === "function" ? configOf : () => configOf;
  const stack = balancer.stack;
  const connect: Connector = (o) => stack.connect(o);
  const entries = new Map<RealServer, Entry>();
  let gen = 0;
  const create = (
    service: VirtualService,
    real: RealServer,
    config: HealthConfig,
  ): HealthChecker => {
    const target = {
      // An IPv6 server in brackets: what connect() takes and what a Host header carries.
      hostname: real.address6 === null
        ? formatIpv4(real.address)
        : `[${formatIpv6(real.address6)}]`,
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
        service: `tcp ${formatAddressPort(service.vip, service.port)}`,
        real: `${target.hostname}:${target.port}`,
      },
    });
  };
  /** A server whose checker goes (check changed or removed) is up until a new check says not. */
  const release = (e: Entry, real: RealServer): void => {
    e.checker.retire();
    if (!real.available && e.service.findReal(real.address, real.port) === real) {
      e.service.editReal(real.address, real.port, { available: true });
    }
  };
  const sync = (): void => {
    gen++;
    for (const service of balancer.services.list()) {
      const config = service.protocol === "tcp" ? cfgOf(service) : null;
      if (config === null) continue;
      for (const real of service.reals) {
        let e = entries.get(real);
        if (e === undefined || e.service !== service || e.config !== config) {
          if (e !== undefined) release(e, real);
          e = { service, config, checker: create(service, real, config), gen };
          entries.set(real, e);
        }
        e.gen = gen;
      }
    }
    for (const [real, e] of entries) {
      if (e.gen === gen) continue;
      release(e, real);
      entries.delete(real);
    }
  };
  sync();
  const untick = stack.onTick(() => {
    sync();
    // Each tick starts the probes that are due; their results apply when they settle.
    for (const e of entries.values()) e.checker.tick();
  });
  return {
    checkers: () => [...entries.values()].map((e) => e.checker),
    stop: () => {
      untick();
      // Nothing checks the servers any more: none stays out of scheduling on an old verdict.
      for (const [real, e] of entries) release(e, real);
      entries.clear();
    },
  };
}
