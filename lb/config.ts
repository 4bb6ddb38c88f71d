/**
 * The balancer's configuration from command-line flags, as `lb.ts run` takes them:
 *
 *   --service tcp:VIP:PORT --scheduler NAME --method dr|nat|tun --real IP[:PORT][,weight=N] ...
 *
 * Several services are repeated groups: each `--service` starts one, and the `--scheduler`,
 * `--method` and `--real` flags that follow belong to it (so the caller hands the flags over in
 * command-line order). Defaults are ipvsadm's: scheduler `wlc`, method `dr` (`-g`), weight 1.
 * Table bound and timeouts: `--max-conns N`, `--timeout-tcp S`, `--timeout-tcpfin S`,
 * `--timeout-udp S` (seconds, like `ipvsadm --set tcp tcpfin udp`).
 *
 * Every problem is a {@link ConfigError} whose message names the flag and the value; the CLI
 * prints it as one line and exits 2 before anything is started.
 *
 * @module
 */

import { formatIpv4, parseIpv4, prefixMask } from "../stack/wire/address.ts";
import { SCHEDULER_NAMES, type SchedulerName } from "./scheduler/scheduler.ts";
import type { ConnStateName } from "./conntrack/tcp_states.ts";
import { type ForwardMethod, MAX_WEIGHT, type Protocol, VirtualService } from "./service.ts";

/** Bad configuration input: the message names the flag and what is wrong with it. */
export class ConfigError extends Error {
  override name = "ConfigError";
}

/** One flag as it appeared on the command line (order matters for service groups). */
export interface FlagOccurrence {
  /** Flag name without dashes, e.g. "service". */
  name: string;
  /** Its value. */
  value: string;
}

/** A real server of a {@link ServiceConfig}. */
export interface RealConfig {
  /** IPv4 address (u32). */
  address: number;
  /** Port; 0 = the virtual port. */
  port: number;
  /** Weight, 0..65535. */
  weight: number;
}

/** One virtual service from the flags. */
export interface ServiceConfig {
  protocol: Protocol;
  /** VIP (u32). */
  vip: number;
  /** Virtual port. */
  port: number;
  scheduler: SchedulerName;
  method: ForwardMethod;
  reals: RealConfig[];
}

/** Everything `lb.ts run` configures on the balancer. */
export interface BalancerConfig {
  services: ServiceConfig[];
  /** Connection-table bound; undefined = the table's default. */
  maxConns?: number;
  /** Timeouts in milliseconds by state (ESTABLISHED, FIN_WAIT, UDP). */
  timeouts: Partial<Record<ConnStateName, number>>;
}

/** The flags this module takes (the CLI adds them to its parser). */
export const BALANCER_FLAGS = [
  "service",
  "scheduler",
  "method",
  "real",
  "max-conns",
  "timeout-tcp",
  "timeout-tcpfin",
  "timeout-udp",
] as const;

/** The forwarding methods, as ipvsadm's `-g`/`-m`/`-i` are named here. */
export const METHODS: readonly ForwardMethod[] = ["dr", "nat", "tun"];

/** Largest connection-table bound (the table's own limit). */
export const MAX_CONNS_LIMIT = 1 << 26;
/** The longest timeout a flag or `lb.ts set` accepts, in seconds (about 23 days, < 2^31 ms). */
export const MAX_TIMEOUT_S = 2_000_000;

function portOf(text: string, what: string, min: number): number {
  if (!/^[0-9]{1,5}$/.test(text)) throw new ConfigError(`${what}: "${text}" is not a port number`);
  const n = Number(text);
  if (n < min || n > 65535) throw new ConfigError(`${what}: port ${n} is outside ${min}..65535`);
  return n;
}

function ipOf(text: string, what: string): number {
  const ip = parseIpv4(text);
  if (ip === null) throw new ConfigError(`${what}: "${text}" is not an IPv4 address`);
  return ip;
}

/** Parses `tcp:VIP:PORT` or `udp:VIP:PORT`. */
export function parseServiceSpec(text: string): { protocol: Protocol; vip: number; port: number } {
  const m = /^([a-z]+):([^:]+):([^:]*)$/.exec(text);
  if (m === null) {
    throw new ConfigError(`--service: "${text}" is not PROTO:VIP:PORT (e.g. tcp:10.0.0.100:80)`);
  }
  const [, proto, vip, port] = m;
  if (proto !== "tcp" && proto !== "udp") {
    throw new ConfigError(`--service: protocol "${proto}" in "${text}" is not tcp or udp`);
  }
  const addr = ipOf(vip, "--service");
  if (addr === 0 || addr === 0xffffffff || addr >>> 28 >= 14 || addr >>> 24 === 127) {
    throw new ConfigError(`--service: ${vip} cannot be a virtual address (not a unicast address)`);
  }
  return { protocol: proto, vip: addr, port: portOf(port, "--service", 1) };
}

/** Parses `IP[:PORT][,weight=N]`. */
export function parseRealSpec(text: string): RealConfig {
  const [hostPort, ...opts] = text.split(",");
  const m = /^([^:]+)(?::(.*))?$/.exec(hostPort);
  if (m === null || hostPort === "") {
    throw new ConfigError(`--real: "${text}" is not IP[:PORT][,weight=N]`);
  }
  const address = ipOf(m[1], "--real");
  const port = m[2] === undefined ? 0 : portOf(m[2], "--real", 1);
  let weight = 1;
  for (const opt of opts) {
    const w = /^weight=(.*)$/.exec(opt);
    if (w === null) {
      throw new ConfigError(`--real: "${opt}" in "${text}" is not an option (only weight=N)`);
    }
    if (!/^[0-9]{1,5}$/.test(w[1]) || Number(w[1]) > MAX_WEIGHT) {
      throw new ConfigError(`--real: weight "${w[1]}" in "${text}" is not in 0..${MAX_WEIGHT}`);
    }
    weight = Number(w[1]);
  }
  return { address, port, weight };
}

function secondsOf(text: string, what: string): number {
  if (!/^[0-9]+$/.test(text)) throw new ConfigError(`${what}: "${text}" is not whole seconds`);
  const n = Number(text);
  if (n < 1 || n > MAX_TIMEOUT_S) {
    throw new ConfigError(`${what}: ${n} s is outside 1..${MAX_TIMEOUT_S}`);
  }
  return n * 1000;
}

function describe(s: ServiceConfig): string {
  return `${s.protocol}:${formatIpv4(s.vip)}:${s.port}`;
}

/**
 * Builds the configuration from the balancer's flags in command-line order. Throws a
 * ConfigError for: a group flag before any `--service`, a flag given twice in one group, an
 * unknown scheduler or method, a duplicate service or real server, a service without real
 * servers, a DR or TUN real server with a port other than the virtual port (they cannot
 * rewrite ports; IPVS ignores the port for them), and bad numbers.
 */
export function balancerConfigFromFlags(flags: readonly FlagOccurrence[]): BalancerConfig {
  const services: ServiceConfig[] = [];
  const config: BalancerConfig = { services, timeouts: {} };
  let current: ServiceConfig | null = null;
  let seen = new Set<string>();
  for (const { name, value } of flags) {
    switch (name) {
      case "service": {
        const spec = parseServiceSpec(value);
        current = { ...spec, scheduler: "wlc", method: "dr", reals: [] };
        for (const s of services) {
          if (s.protocol === spec.protocol && s.vip === spec.vip && s.port === spec.port) {
            throw new ConfigError(`--service: ${value} is given twice`);
          }
        }
        services.push(current);
        seen = new Set();
        break;
      }
      case "scheduler":
      case "method": {
        if (current === null) {
          throw new ConfigError(
            `--${name} ${value}: comes before any --service it could belong to`,
          );
        }
        if (seen.has(name)) {
          throw new ConfigError(`--${name}: given twice for --service ${describe(current)}`);
        }
        seen.add(name);
        if (name === "scheduler") {
          if (!(SCHEDULER_NAMES as readonly string[]).includes(value)) {
            throw new ConfigError(
              `--scheduler: "${value}" is not one of ${SCHEDULER_NAMES.join(", ")}`,
            );
          }
          current.scheduler = value as SchedulerName;
        } else {
          if (!(METHODS as readonly string[]).includes(value)) {
            throw new ConfigError(`--method: "${value}" is not one of ${METHODS.join(", ")}`);
          }
          current.method = value as ForwardMethod;
        }
        break;
      }
      case "real": {
        if (current === null) {
          throw new ConfigError(`--real ${value}: comes before any --service it could belong to`);
        }
        const real = parseRealSpec(value);
        for (const r of current.reals) {
          if (
            r.address === real.address && (r.port || current.port) === (real.port || current.port)
          ) {
            throw new ConfigError(`--real: ${value} is given twice for ${describe(current)}`);
          }
        }
        current.reals.push(real);
        break;
      }
      case "max-conns": {
        if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > MAX_CONNS_LIMIT) {
          throw new ConfigError(
            `--max-conns: "${value}" is not a whole number in 1..${MAX_CONNS_LIMIT}`,
          );
        }
        config.maxConns = Number(value);
        break;
      }
      case "timeout-tcp":
        config.timeouts.ESTABLISHED = secondsOf(value, "--timeout-tcp");
        break;
      case "timeout-tcpfin":
        config.timeouts.FIN_WAIT = secondsOf(value, "--timeout-tcpfin");
        break;
      case "timeout-udp":
        config.timeouts.UDP = secondsOf(value, "--timeout-udp");
        break;
      default:
        throw new ConfigError(`--${name}: not a balancer flag`);
    }
  }
  // No --service at all is an empty director, filled later with add-service (as ipvsadm is).
  for (const s of services) {
    if (s.reals.length === 0) {
      throw new ConfigError(`--service ${describe(s)} has no --real server`);
    }
    if (s.method !== "nat") {
      for (const r of s.reals) {
        if (r.port !== 0 && r.port !== s.port) {
          throw new ConfigError(
            `--real ${formatIpv4(r.address)}:${r.port}: method ${s.method} keeps the virtual ` +
              `port ${s.port}; a different port needs --method nat`,
          );
        }
      }
    }
  }
  return config;
}

/** The host the balancer runs on, for reachability checks. */
export interface HostAddress {
  /** Interface address (u32). */
  address: number;
  /** Its prefix length. */
  prefix: number;
  /** Default gateway (u32), if any. */
  gateway?: number;
}

/**
 * Checks the configuration against the host's address: a DR real server must be on the
 * balancer's link (its MAC comes from ARP: IPVS DR needs the same L2 segment); NAT and TUN real
 * servers must be on the link or reachable through the gateway; a real server cannot be the
 * balancer itself or a VIP. Throws a ConfigError naming the real server.
 */
export function checkAgainstHost(config: BalancerConfig, host: HostAddress): void {
  const mask = prefixMask(host.prefix);
  const onLink = (ip: number) => ((ip & mask) >>> 0) === ((host.address & mask) >>> 0);
  const vips = new Set(config.services.map((s) => s.vip));
  for (const s of config.services) {
    for (const r of s.reals) {
      const ip = formatIpv4(r.address);
      if (r.address === host.address || vips.has(r.address)) {
        throw new ConfigError(`--real ${ip}: is the balancer's own address or a VIP`);
      }
      if (s.method === "dr" && !onLink(r.address)) {
        throw new ConfigError(
          `--real ${ip}: direct routing needs the real server on the balancer's link ` +
            `(${formatIpv4((host.address & mask) >>> 0)}/${host.prefix}); use --method tun`,
        );
      }
      if (!onLink(r.address) && host.gateway === undefined) {
        throw new ConfigError(`--real ${ip}: not on the balancer's link and no --gateway`);
      }
    }
  }
}

/** The virtual services a configuration describes, with their real servers. */
export function buildServices(config: BalancerConfig): VirtualService[] {
  return config.services.map((s) => {
    const service = new VirtualService({
      protocol: s.protocol,
      vip: s.vip,
      port: s.port,
      scheduler: s.scheduler,
      method: s.method,
    });
    for (const r of s.reals) {
      service.addReal({ address: r.address, port: r.port, weight: r.weight, method: s.method });
    }
    return service;
  });
}
