/**
 * Which health check each service gets: the global one (the `--check` flags before any
 * `--service`, or the config file's top-level `"health"`) unless the service has its own (flags
 * inside its `--service` group, or its `"health"` in the file). The monitor asks {@link
 * HealthSettings.configOf} on every tick and restarts a service's checkers when the answer is
 * another object, so an update keeps the objects of what did not change.
 *
 * @module
 */

import { formatAddressPort } from "../address.ts";
import type { FileConfig } from "../config_file.ts";
import type { HealthConfig } from "./monitor.ts";

/** A service's key: "tcp 10.0.0.100 80" (protocol, VIP as u32, port). */
function keyOf(s: { protocol: string; vip: number; port: number }): string {
  return `${s.protocol} ${s.vip} ${s.port}`;
}

function nameOf(s: { protocol: string; vip: number; port: number }): string {
  return `${s.protocol} ${formatAddressPort(s.vip, s.port)}`;
}

const same = (a: HealthConfig | null | undefined, b: HealthConfig | null | undefined) =>
  JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

/** The global health check and the services' own. */
export class HealthSettings {
  #global: HealthConfig | null;
  readonly #own = new Map<string, HealthConfig>();

  /** Settings with `global` for every TCP service and `own` checks by service. */
  constructor(
    global: HealthConfig | null = null,
    own: Iterable<[{ protocol: string; vip: number; port: number }, HealthConfig]> = [],
  ) {
    this.#global = global;
    for (const [s, h] of own) this.#own.set(keyOf(s), h);
  }

  /** The global check, or null. */
  get global(): HealthConfig | null {
    return this.#global;
  }

  /** True when any check is configured (global or a service's own). */
  get any(): boolean {
    return this.#global !== null || this.#own.size > 0;
  }

  /** The check `service`'s servers get (its own, else the global one), or null for none. */
  configOf(service: { protocol: string; vip: number; port: number }): HealthConfig | null {
    return this.#own.get(keyOf(service)) ?? this.#global;
  }

  /** The service's own check, or undefined when it follows the global one. */
  ownOf(service: { protocol: string; vip: number; port: number }): HealthConfig | undefined {
    return this.#own.get(keyOf(service));
  }

  /**
   * Takes the file's checks (`lb.ts reload`): the global one and every service's own. Objects
   * whose settings did not change are kept (their checkers go on). Returns what changed.
   */
  applyFile(config: FileConfig): string[] {
    const changes: string[] = [];
    const next = config.health ?? null;
    if (!same(next, this.#global)) {
      this.#global = next;
      changes.push(next === null ? "health checks removed" : "health checks changed");
    }
    const wanted = new Map(
      config.services.filter((s) => s.health !== undefined).map((s) => [keyOf(s), s]),
    );
    for (const k of [...this.#own.keys()]) {
      if (!wanted.has(k)) {
        this.#own.delete(k);
        const [protocol, vip, port] = k.split(" ");
        changes.push(
          `service ${nameOf({ protocol, vip: Number(vip), port: Number(port) })}: ` +
            "own health checks removed",
        );
      }
    }
    for (const [k, s] of wanted) {
      if (!same(s.health, this.#own.get(k))) {
        this.#own.set(k, s.health!);
        changes.push(`service ${nameOf(s)}: health checks changed`);
      }
    }
    return changes;
  }
}
