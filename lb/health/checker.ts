/**
 * Health checks for real servers, keepalived/haproxy style: a probe runs every `intervalMs`; after
 * `fall` consecutive failures an up server goes down (`RealServer.available = false`, no new
 * flows, weight kept), after `rise` consecutive successes a down server comes back. Existing flows
 * are never cut: as in IPVS with keepalived, a failed server only stops receiving new flows.
 *
 * Servers start up (keepalived's default, "inhibit_on_failure" off): a configured server takes
 * traffic until the checks prove otherwise, so starting the balancer does not wait `rise`
 * intervals. The checker is driven by the stack's tick (`Stack.onTick`) and reads time only from a
 * {@link Clock}, so tests drive it with a FakeClock. This is control-path code: it allocates.
 *
 * @module
 */

import { formatLogLine, type LogFormat } from "../log.ts";
import type { Clock } from "../../stack/clock.ts";
import type { RealServer, VirtualService } from "../service.ts";

/** A probe: resolves null when the server is healthy, else a reason string. Never rejects. */
export type Probe = () => Promise<string | null>;

/** Timing and thresholds of a health check. */
export interface HealthTiming {
  /** Milliseconds between the starts of two probes (default 2000). */
  intervalMs: number;
  /** Consecutive successes that bring a down server up (default 2). */
  rise: number;
  /** Consecutive failures that take an up server down (default 3). */
  fall: number;
}

/** Defaults, haproxy's `inter 2s rise 2 fall 3`. */
export const DEFAULT_TIMING: Readonly<HealthTiming> = { intervalMs: 2000, rise: 2, fall: 3 };

/** A state change, as logged and handed to {@link HealthCheckerOptions.onChange}. */
export interface HealthEvent {
  /** "up" or "down": the new state. */
  state: "up" | "down";
  /** The service, "tcp 10.0.0.1:80". */
  service: string;
  /** The real server, "10.0.0.2:80". */
  real: string;
  /** Why: the last probe's failure reason, or "N consecutive successful checks". */
  reason: string;
}

/**
 * The rise/fall counter on its own (pure, no time): `record` one probe result, get whether the
 * state flipped.
 */
export class HealthState {
  /** Current state; starts up. */
  up = true;
  /** Consecutive successes since the last failure. */
  okRun = 0;
  /** Consecutive failures since the last success. */
  failRun = 0;
  readonly #rise: number;
  readonly #fall: number;

  /** A counter with thresholds `rise` and `fall` (integers >= 1; throws a RangeError otherwise). */
  constructor(rise: number, fall: number) {
    if (!Number.isInteger(rise) || rise < 1) throw new RangeError(`rise ${rise} is not >= 1`);
    if (!Number.isInteger(fall) || fall < 1) throw new RangeError(`fall ${fall} is not >= 1`);
    this.#rise = rise;
    this.#fall = fall;
  }

  /** Records one probe result; returns true when the state changed. */
  record(ok: boolean): boolean {
    if (ok) {
      this.okRun++;
      this.failRun = 0;
      if (!this.up && this.okRun >= this.#rise) {
        this.up = true;
        return true;
      }
    } else {
      this.failRun++;
      this.okRun = 0;
      if (this.up && this.failRun >= this.#fall) {
        this.up = false;
        return true;
      }
    }
    return false;
  }
}

/** What {@link HealthChecker}'s constructor takes. */
export interface HealthCheckerOptions {
  /** The service holding the server (its scheduler is updated on a change). */
  service: VirtualService;
  /** The checked server. */
  real: RealServer;
  /** The probe to run. */
  probe: Probe;
  /** Interval and thresholds (defaults {@link DEFAULT_TIMING}). */
  timing?: Partial<HealthTiming>;
  /** Time source (the stack's clock). */
  clock: Clock;
  /** Called on every state change (e.g. to log it). */
  onChange?: (event: HealthEvent) => void;
  /** Service and server names as events show them ("tcp 10.0.0.1:80", "10.0.0.2:80"). */
  names: { service: string; real: string };
}

/** Runs one real server's probe at its interval and applies rise/fall to `available`. */
export class HealthChecker {
  /** The rise/fall state. */
  readonly state: HealthState;
  /** The checked server. */
  readonly real: RealServer;
  /** Last failure reason (null after a success or before the first probe). */
  lastReason: string | null = null;
  readonly #o: HealthCheckerOptions;
  readonly #intervalMs: number;
  readonly #rise: number;
  #next: number;
  #running = false;
  #retired = false;

  /** A checker whose first probe runs at the first tick. Throws a RangeError on bad timing. */
  constructor(options: HealthCheckerOptions) {
    const t = { ...DEFAULT_TIMING, ...options.timing };
    if (!(t.intervalMs > 0)) throw new RangeError(`interval ${t.intervalMs} ms is not > 0`);
    this.state = new HealthState(t.rise, t.fall);
    this.state.up = options.real.available;
    this.real = options.real;
    this.#o = options;
    this.#intervalMs = t.intervalMs;
    this.#rise = t.rise;
    this.#next = options.clock.now();
  }

  /**
   * Starts a probe when one is due and none is running; returns its promise (tests await it) or
   * null. Called from the stack's tick.
   */
  tick(): Promise<void> | null {
    if (this.#running) return null;
    const now = this.#o.clock.now();
    if (now < this.#next) return null;
    this.#next = now + this.#intervalMs;
    return this.runOnce();
  }

  /** Runs one probe now and applies its result. */
  async runOnce(): Promise<void> {
    this.#running = true;
    let reason: string | null;
    try {
      reason = await this.#o.probe();
    } catch (e) {
      // A probe must not reject; if one does, that is a failed check, not a crash.
      reason = `probe error: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      this.#running = false;
    }
    this.apply(reason);
  }

  /**
   * Ends this checker: a probe still in flight applies nothing (the server is another checker's
   * now, or nobody's), so an old verdict cannot take a server down after its check changed.
   */
  retire(): void {
    this.#retired = true;
  }

  /** Applies one probe result (null = success) to the state, `available` and the scheduler. */
  apply(reason: string | null): void {
    if (this.#retired) return;
    this.lastReason = reason;
    if (!this.state.record(reason === null)) return;
    const up = this.state.up;
    const { service, real, names } = this.#o;
    // The server may have been removed (admin verb, reload) while the probe ran: then there is
    // nothing to update, and editReal would throw.
    if (service.findReal(real.address, real.port) !== real) return;
    service.editReal(real.address, real.port, { available: up });
    this.#o.onChange?.({
      state: up ? "up" : "down",
      service: names.service,
      real: names.real,
      reason: up ? `${this.#rise} consecutive successful checks` : reason ?? "check failed",
    });
  }
}

/** A state change in words: "tcp 10.0.0.1:80 real 10.0.0.2:80 DOWN: reason". */
export function healthEventMessage(event: HealthEvent): string {
  return `${event.service} real ${event.real} ${event.state.toUpperCase()}: ${event.reason}`;
}

/** One log line for a state change: a JSON object, or a plain line; `at` is the wall time. */
export function formatHealthEvent(event: HealthEvent, format: LogFormat, at: Date): string {
  return formatLogLine(format, "health", healthEventMessage(event), { ...event }, at);
}

/** A parsed `--check` value: `tcp`, or `http[:PATH[:STATUS]]`. */
export type CheckSpec =
  | { kind: "tcp" }
  | { kind: "http"; path: string; status: number };

/**
 * Parses `--check tcp|http[:PATH[:STATUS]]` (defaults: path "/", status 200); returns a reason
 * string on bad input.
 */
export function parseCheckSpec(text: string): CheckSpec | string {
  if (text === "tcp") return { kind: "tcp" };
  if (text !== "http" && !text.startsWith("http:")) {
    return `--check ${JSON.stringify(text)}: expected tcp or http[:PATH[:STATUS]]`;
  }
  const parts = text.split(":");
  if (parts.length > 3) return `--check ${JSON.stringify(text)}: too many ':' fields`;
  const path = parts[1] || "/";
  if (!path.startsWith("/") || hasControlOrSpace(path)) {
    return `--check path ${JSON.stringify(path)} must start with / and have no spaces`;
  }
  let status = 200;
  if (parts.length === 3) {
    status = Number(parts[2]);
    if (!/^[1-5][0-9][0-9]$/.test(parts[2])) {
      return `--check status ${JSON.stringify(parts[2])} is not an HTTP status 100..599`;
    }
  }
  return { kind: "http", path, status };
}

/** True when `text` has a space, a control character or DEL (not allowed in a request target). */
function hasControlOrSpace(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}
