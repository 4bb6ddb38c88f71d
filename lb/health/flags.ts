/**
 * `lb.ts run`'s health-check flags, validated: `--check tcp|http[:PATH[:STATUS]]`,
 * `--check-interval S`, `--check-timeout S`, `--rise N`, `--fall N`. Given before any
 * `--service` they are global: they apply to every TCP service (lb/health/monitor.ts). Given
 * inside a `--service` group (after it, before the next) they apply to that service only,
 * overriding the global ones flag by flag (a group may set just `--check`, or just `--fall`).
 * Bad input is a reason string.
 *
 * @module
 */

import { DEFAULT_TIMING, parseCheckSpec } from "./checker.ts";
import type { HealthConfig } from "./monitor.ts";

/** The names of the health-check flags. */
export const HEALTH_FLAGS = ["check", "check-interval", "check-timeout", "rise", "fall"] as const;

/** The flag values as parseArgs gives them (absent = undefined). */
export interface HealthFlags {
  check?: string;
  "check-interval"?: string;
  "check-timeout"?: string;
  rise?: string;
  fall?: string;
}

/** Longest interval or timeout accepted, in seconds (a day). */
const MAX_SECONDS = 86400;

function seconds(name: string, text: string): number | string {
  const s = Number(text);
  if (text.trim() === "" || !Number.isFinite(s) || s < 0.01 || s > MAX_SECONDS) {
    return `--${name} ${JSON.stringify(text)} is not a number of seconds in 0.01..${MAX_SECONDS}`;
  }
  return Math.round(s * 1000);
}

function count(name: string, text: string): number | string {
  if (!/^[0-9]{1,4}$/.test(text) || Number(text) < 1) {
    return `--${name} ${JSON.stringify(text)} is not an integer in 1..9999`;
  }
  return Number(text);
}

/**
 * The health configuration, null when `--check` is absent (the other flags then are an error:
 * they would silently do nothing), or a reason string. The timeout defaults to the interval.
 */
export function healthConfigFromFlags(flags: HealthFlags): HealthConfig | null | string {
  if (flags.check === undefined) {
    for (const name of ["check-interval", "check-timeout", "rise", "fall"] as const) {
      if (flags[name] !== undefined) return `--${name} needs --check`;
    }
    return null;
  }
  const check = parseCheckSpec(flags.check);
  if (typeof check === "string") return check;
  const timing = { ...DEFAULT_TIMING };
  if (flags["check-interval"] !== undefined) {
    const ms = seconds("check-interval", flags["check-interval"]);
    if (typeof ms === "string") return ms;
    timing.intervalMs = ms;
  }
  let timeoutMs = timing.intervalMs;
  if (flags["check-timeout"] !== undefined) {
    const ms = seconds("check-timeout", flags["check-timeout"]);
    if (typeof ms === "string") return ms;
    timeoutMs = ms;
  }
  for (const name of ["rise", "fall"] as const) {
    const text = flags[name];
    if (text === undefined) continue;
    const n = count(name, text);
    if (typeof n === "string") return n;
    timing[name] = n;
  }
  return { check, timing, timeoutMs };
}

/** Health checks from the command line: the global ones and per-service overrides. */
export interface HealthFlagConfig {
  /** From the flags before any `--service`; null when none. */
  global: HealthConfig | null;
  /** By `--service` group index (0 = the first group): the group's flags over the global ones. */
  services: Map<number, HealthConfig>;
}

/**
 * The health configuration from the health flags and `--service` markers in command-line order
 * (`{name: "service"}` starts a group; other names are HEALTH_FLAGS). A flag given twice in one
 * place is an error (the second would silently win). Returns a reason string on bad input.
 */
export function healthFromOccurrences(
  occurrences: readonly { name: string; value: string }[],
): HealthFlagConfig | string {
  const groups: HealthFlags[] = [{}];
  for (const { name, value } of occurrences) {
    if (name === "service") {
      groups.push({});
      continue;
    }
    const g = groups[groups.length - 1];
    const key = name as keyof HealthFlags;
    if (g[key] !== undefined) {
      const where = groups.length === 1 ? "before any --service" : "in one --service group";
      return `--${name} is given twice ${where}`;
    }
    g[key] = value;
  }
  const global = healthConfigFromFlags(groups[0]);
  if (typeof global === "string") return global;
  const services = new Map<number, HealthConfig>();
  for (let i = 1; i < groups.length; i++) {
    if (Object.keys(groups[i]).length === 0) continue;
    const merged = healthConfigFromFlags({ ...groups[0], ...groups[i] });
    if (typeof merged === "string") return merged;
    if (merged !== null) services.set(i - 1, merged);
  }
  return { global, services };
}
