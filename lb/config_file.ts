/**
 * The balancer's JSON configuration file (`lb.ts run --config FILE`, `lb.ts reload`, and what
 * `lb.ts save` prints). JSON, because Deno parses it without a dependency; the validator below is
 * hand-written so every error names the file, the JSON path and the problem in one line:
 *
 * ```json
 * {
 *   "maxConns": 262144,
 *   "timeouts": { "tcp": 900, "tcpfin": 120, "udp": 300 },
 *   "health": { "check": "http:/:200", "interval": 2, "timeout": 2, "rise": 2, "fall": 3 },
 *   "services": [
 *     { "protocol": "tcp", "vip": "10.0.0.100", "port": 80, "scheduler": "wlc",
 *       "persistence": 0, "method": "dr", "health": { "check": "http:/healthz:200" },
 *       "reals": [{ "address": "10.0.0.11", "port": 80, "weight": 1, "method": "dr" }] }
 *   ]
 * }
 * ```
 *
 * Every key but `services` (and a service's `protocol`, `vip`, `port`, a real's `address`) is
 * optional; defaults are ipvsadm's (scheduler `wlc`, method `dr`, weight 1, no persistence). A
 * real's `method` overrides its service's; `port` 0 or absent means the virtual port. Unknown
 * keys are errors (a typo must not silently do nothing). `health` is what the global `--check`,
 * `--check-interval`, `--check-timeout`, `--rise` and `--fall` flags of `run` give (lb/health/
 * flags.ts): absent = no health checks; only `check` is required. A service's own `health`
 * overrides it key by key (as `--check` flags inside a `--service` group do): it needs `check`
 * only when there is no top-level `health`. A reload applies both (cli/commands/run.ts).
 * `bgp` is what `run --bgp` gives (lb/bgp/options.ts): the flag's text, e.g.
 * `"10.0.0.1,as=65000,local-as=65001,bfd"`, or `{ "peer": "10.0.0.1", "as": 65000,
 * "local-as": 65001, "bfd": true }`; it is read at start only (a reload refuses a change).
 *
 * @module
 */

import { bgpFromJson, type BgpOptions, formatBgpSpec } from "./bgp/options.ts";
import { formatAddress, formatAddressPort, isIpv6Address, parseAddress } from "./address.ts";
import { SCHEDULER_NAMES, type SchedulerName } from "./scheduler/scheduler.ts";
import type { ConnStateName } from "./conntrack/tcp_states.ts";
import { type ForwardMethod, MAX_WEIGHT, type Protocol } from "./service.ts";
import { familyMismatch, MAX_CONNS_LIMIT, METHODS, vipProblem } from "./config.ts";
import { type CheckSpec, DEFAULT_TIMING, parseCheckSpec } from "./health/checker.ts";
import type { HealthConfig } from "./health/monitor.ts";

/** A configuration file problem: the message is `FILE: $.json.path: problem`. */
export class ConfigFileError extends Error {
  override name = "ConfigFileError";
}

/** A real server in the file. */
export interface FileReal {
  /** IPv4 address (u32). */
  address: number;
  /** Port; 0 = the virtual port. */
  port: number;
  /** Weight, 0..65535. */
  weight: number;
  /** Forwarding method (ipvsadm -g/-m/-i). */
  method: ForwardMethod;
}

/** A virtual service in the file. */
export interface FileService {
  protocol: Protocol;
  /** VIP (u32). */
  vip: number;
  /** Virtual port 1..65535. */
  port: number;
  scheduler: SchedulerName;
  /** Persistence timeout in seconds (ipvsadm -p); 0 = none. */
  persistence: number;
  reals: FileReal[];
  /** The service's own health checks (the top-level ones with its overrides); undefined: those. */
  health?: HealthConfig;
}

/** A whole configuration file. */
export interface FileConfig {
  services: FileService[];
  /** Connection-table bound; undefined = the default. Only read at start. */
  maxConns?: number;
  /** Timeouts in milliseconds by state (ESTABLISHED, FIN_WAIT, UDP). */
  timeouts: Partial<Record<ConnStateName, number>>;
  /** Health checks for every TCP service without its own; undefined = none. */
  health?: HealthConfig;
  /** The BGP neighbour to announce the VIPs to (`--bgp`); undefined = none. */
  bgp?: BgpOptions;
}

/** Largest persistence timeout in seconds (ipvsadm's limit is similar: about 24 days). */
export const MAX_PERSISTENCE_S = 2_000_000;
const MAX_TIMEOUT_S = 2_000_000;
const TIMEOUT_KEYS: Record<string, ConnStateName> = {
  tcp: "ESTABLISHED",
  tcpfin: "FIN_WAIT",
  udp: "UDP",
};

type Json = unknown;

/** Validation context: the file name for every message. */
class Ctx {
  constructor(readonly file: string) {}
  fail(path: string, problem: string): never {
    throw new ConfigFileError(`${this.file}: ${path}: ${problem}`);
  }
  object(v: Json, path: string, keys: readonly string[]): Record<string, Json> {
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(path, "not an object");
    const o = v as Record<string, Json>;
    for (const k of Object.keys(o)) {
      if (!keys.includes(k)) {
        this.fail(`${path}.${k}`, `unknown key (known: ${keys.join(", ")})`);
      }
    }
    return o;
  }
  int(v: Json, path: string, min: number, max: number): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      this.fail(path, `${JSON.stringify(v)} is not an integer in ${min}..${max}`);
    }
    return v;
  }
  oneOf<T extends string>(v: Json, path: string, values: readonly T[]): T {
    if (typeof v !== "string" || !(values as readonly string[]).includes(v)) {
      this.fail(path, `${JSON.stringify(v)} is not one of ${values.join(", ")}`);
    }
    return v as T;
  }
  /** Seconds (fractions allowed) in min..max, returned in milliseconds. */
  seconds(v: Json, path: string, min: number, max: number): number {
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
      this.fail(path, `${JSON.stringify(v)} is not a number of seconds in ${min}..${max}`);
    }
    return Math.round(v * 1000);
  }
  ip(v: Json, path: string): number {
    const ip = typeof v === "string" ? parseAddress(v) : null;
    if (ip === null) this.fail(path, `${JSON.stringify(v)} is not an IPv4 or IPv6 address`);
    return ip;
  }
}

const TOP_KEYS = ["services", "maxConns", "timeouts", "health", "bgp"] as const;
const HEALTH_KEYS = ["check", "interval", "timeout", "rise", "fall"] as const;
/** Longest health-check interval or timeout in seconds (a day, as the `run` flags). */
const MAX_HEALTH_S = 86400;
const SERVICE_KEYS = [
  "protocol",
  "vip",
  "port",
  "scheduler",
  "persistence",
  "method",
  "reals",
  "health",
] as const;
const REAL_KEYS = ["address", "port", "weight", "method"] as const;

function parseReal(ctx: Ctx, v: Json, path: string, svc: FileService, dflt: ForwardMethod) {
  const o = ctx.object(v, path, REAL_KEYS);
  if (o.address === undefined) ctx.fail(path, "missing key address");
  const real: FileReal = {
    address: ctx.ip(o.address, `${path}.address`),
    port: o.port === undefined ? 0 : ctx.int(o.port, `${path}.port`, 0, 65535),
    weight: o.weight === undefined ? 1 : ctx.int(o.weight, `${path}.weight`, 0, MAX_WEIGHT),
    method: o.method === undefined ? dflt : ctx.oneOf(o.method, `${path}.method`, METHODS),
  };
  const mixed = familyMismatch(svc.vip, real.address);
  if (mixed !== null) ctx.fail(`${path}.address`, mixed);
  if (real.port === svc.port) real.port = 0;
  if (real.method !== "nat" && real.port !== 0) {
    ctx.fail(
      `${path}.port`,
      `method ${real.method} keeps the virtual port ${svc.port}; port ${real.port} needs "nat"`,
    );
  }
  for (const r of svc.reals) {
    if (r.address === real.address && r.port === real.port) {
      ctx.fail(path, `real server ${formatAddress(real.address)} is given twice in this service`);
    }
  }
  svc.reals.push(real);
}

function parseService(
  ctx: Ctx,
  v: Json,
  path: string,
  services: FileService[],
  health: HealthConfig | undefined,
): void {
  const o = ctx.object(v, path, SERVICE_KEYS);
  for (const k of ["protocol", "vip", "port"]) {
    if (o[k] === undefined) ctx.fail(path, `missing key ${k}`);
  }
  const vip = ctx.ip(o.vip, `${path}.vip`);
  const bad = vipProblem(vip);
  if (bad !== null) ctx.fail(`${path}.vip`, bad);
  const svc: FileService = {
    protocol: ctx.oneOf(o.protocol, `${path}.protocol`, ["tcp", "udp"] as const),
    vip,
    port: ctx.int(o.port, `${path}.port`, 1, 65535),
    scheduler: o.scheduler === undefined
      ? "wlc"
      : ctx.oneOf(o.scheduler, `${path}.scheduler`, SCHEDULER_NAMES),
    persistence: o.persistence === undefined
      ? 0
      : ctx.int(o.persistence, `${path}.persistence`, 0, MAX_PERSISTENCE_S),
    reals: [],
  };
  for (let i = 0; i < services.length; i++) {
    const s = services[i];
    if (s.protocol === svc.protocol && s.vip === svc.vip && s.port === svc.port) {
      ctx.fail(
        path,
        `duplicate service ${svc.protocol} ${formatAddressPort(vip, svc.port)} ` +
          `(also $.services[${i}])`,
      );
    }
  }
  const method = o.method === undefined ? "dr" : ctx.oneOf(o.method, `${path}.method`, METHODS);
  const reals: Json = o.reals;
  if (reals !== undefined) {
    if (!Array.isArray(reals)) ctx.fail(`${path}.reals`, "not an array");
    reals.forEach((r: Json, i: number) => parseReal(ctx, r, `${path}.reals[${i}]`, svc, method));
  }
  if (o.health !== undefined) {
    if (svc.protocol !== "tcp") {
      ctx.fail(`${path}.health`, "health checks are for TCP services (a UDP port is not probed)");
    }
    svc.health = parseHealth(ctx, o.health, `${path}.health`, health);
  }
  services.push(svc);
}

/**
 * `$.health` (the same settings and defaults as the `run` health flags, lb/health/flags.ts), or
 * a service's `health` at `path` over the top-level `base`: keys it gives replace base's, the
 * timeout following a new interval unless given too.
 */
function parseHealth(ctx: Ctx, v: Json, path = "$.health", base?: HealthConfig): HealthConfig {
  const o = ctx.object(v, path, HEALTH_KEYS);
  let check: CheckSpec;
  if (o.check === undefined) {
    if (base === undefined) ctx.fail(path, "missing key check");
    check = base.check;
  } else {
    if (typeof o.check !== "string") ctx.fail(`${path}.check`, "not a string");
    const c = parseCheckSpec(o.check);
    if (typeof c === "string") ctx.fail(`${path}.check`, c.replace(/^--check /, ""));
    check = c;
  }
  const timing = { ...(base?.timing ?? DEFAULT_TIMING) };
  if (o.interval !== undefined) {
    timing.intervalMs = ctx.seconds(o.interval, `${path}.interval`, 0.01, MAX_HEALTH_S);
  }
  const timeoutMs = o.timeout !== undefined
    ? ctx.seconds(o.timeout, `${path}.timeout`, 0.01, MAX_HEALTH_S)
    : o.interval === undefined && base !== undefined
    ? base.timeoutMs
    : timing.intervalMs;
  if (o.rise !== undefined) timing.rise = ctx.int(o.rise, `${path}.rise`, 1, 9999);
  if (o.fall !== undefined) timing.fall = ctx.int(o.fall, `${path}.fall`, 1, 9999);
  return { check, timing, timeoutMs };
}

/** The file's form of a health configuration (every key written, so it reads back the same). */
function formatHealth(h: HealthConfig) {
  return {
    check: formatCheckSpec(h.check),
    interval: h.timing.intervalMs / 1000,
    timeout: h.timeoutMs / 1000,
    rise: h.timing.rise,
    fall: h.timing.fall,
  };
}

/** A check as `--check` and `$.health.check` spell it. */
export function formatCheckSpec(c: CheckSpec): string {
  return c.kind === "tcp" ? "tcp" : `http:${c.path}:${c.status}`;
}

/**
 * Parses and validates the text of a configuration file. Throws a {@link ConfigFileError}
 * naming `file`, the JSON path and the problem: bad JSON, an unknown key, a bad address, port,
 * weight, scheduler or method, a duplicate service or real server.
 */
export function parseConfigText(text: string, file: string): FileConfig {
  const ctx: Ctx = new Ctx(file);
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (e) {
    ctx.fail("$", `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
  }
  const o = ctx.object(json, "$", TOP_KEYS);
  const config: FileConfig = { services: [], timeouts: {} };
  // The top-level health first: a service's own overrides it.
  if (o.health !== undefined) config.health = parseHealth(ctx, o.health);
  const services: Json = o.services;
  if (services === undefined) ctx.fail("$", "missing key services");
  if (!Array.isArray(services)) ctx.fail("$.services", "not an array");
  services.forEach((s: Json, i: number) =>
    parseService(ctx, s, `$.services[${i}]`, config.services, config.health)
  );
  if (o.maxConns !== undefined) {
    config.maxConns = ctx.int(o.maxConns, "$.maxConns", 1, MAX_CONNS_LIMIT);
  }
  if (o.bgp !== undefined) {
    const b = bgpFromJson(o.bgp);
    if (typeof b === "string") ctx.fail("$.bgp", b.replace(/^--bgp: /, ""));
    config.bgp = b;
  }
  if (o.timeouts !== undefined) {
    const t = ctx.object(o.timeouts, "$.timeouts", Object.keys(TIMEOUT_KEYS));
    for (const [k, state] of Object.entries(TIMEOUT_KEYS)) {
      if (t[k] !== undefined) {
        config.timeouts[state] = ctx.int(t[k], `$.timeouts.${k}`, 1, MAX_TIMEOUT_S) * 1000;
      }
    }
  }
  return config;
}

/** Reads and validates `file` (needs `--allow-read=FILE`); every problem is a ConfigFileError. */
export async function loadConfigFile(file: string): Promise<FileConfig> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw new ConfigFileError(`${file}: cannot read (${e instanceof Error ? e.message : e})`);
  }
  return parseConfigText(text, file);
}

/** The JSON text of a configuration (what `lb.ts save` prints); parses back to the same value. */
export function formatConfig(config: FileConfig): string {
  const timeouts: Record<string, number> = {};
  for (const [k, state] of Object.entries(TIMEOUT_KEYS)) {
    const ms = config.timeouts[state];
    if (ms !== undefined) timeouts[k] = Math.round(ms / 1000);
  }
  const out = {
    ...(config.maxConns !== undefined ? { maxConns: config.maxConns } : {}),
    timeouts,
    ...(config.health !== undefined ? { health: formatHealth(config.health) } : {}),
    ...(config.bgp !== undefined ? { bgp: formatBgpSpec(config.bgp) } : {}),
    services: config.services.map((s) => ({
      protocol: s.protocol,
      vip: formatAddress(s.vip),
      port: s.port,
      scheduler: s.scheduler,
      persistence: s.persistence,
      ...(s.health !== undefined ? { health: formatHealth(s.health) } : {}),
      reals: s.reals.map((r) => ({
        address: formatAddress(r.address),
        port: r.port,
        weight: r.weight,
        method: r.method,
      })),
    })),
  };
  return JSON.stringify(out, null, 2) + "\n";
}

/**
 * A configuration as it crosses the control channel (`lb.ts save`): IPv6 addresses as text, since
 * their numbers are handles local to a process (lb/address.ts). IPv4 stays numeric.
 */
export function configToWire(config: FileConfig): FileConfig {
  const wire = (a: number) => (isIpv6Address(a) ? formatAddress(a) : a) as unknown as number;
  return {
    ...config,
    services: config.services.map((s) => ({
      ...s,
      vip: wire(s.vip),
      reals: s.reals.map((r) => ({ ...r, address: wire(r.address) })),
    })),
  };
}

/** {@link configToWire}'s inverse, in the receiving process. */
export function configFromWire(config: FileConfig): FileConfig {
  const local = (a: unknown) => (typeof a === "string" ? parseAddress(a) ?? 0 : a as number);
  return {
    ...config,
    services: config.services.map((s) => ({
      ...s,
      vip: local(s.vip),
      reals: s.reals.map((r) => ({ ...r, address: local(r.address) })),
    })),
  };
}
