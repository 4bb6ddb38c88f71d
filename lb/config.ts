/**
 * The balancer's configuration from command-line flags, as `lb.ts run` takes them:
 *
 *   --service tcp:VIP:PORT --scheduler NAME --method dr|nat|tun --real IP[:PORT][,weight=N] ...
 *
 * An IPv6 address is written in brackets when a port follows, as ipvsadm does:
 * `--service tcp:[2001:db8::100]:80 --real [2001:db8::10]:8080`. A service's real servers are of
 * its VIP's family (IPVS forwards within one family); a mixed service is refused.
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

import { formatIpv4, prefixMask } from "../stack/wire/address.ts";
import {
  isIpv6LinkLocal,
  isIpv6Multicast,
  isIpv6Unspecified,
  parseIpv6,
} from "../stack/wire/address6.ts";
import {
  formatAddress,
  formatAddressPort,
  ipv6Bytes,
  isIpv6Address,
  parseAddress,
  splitHostPort,
} from "./address.ts";
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
  /** IPv4 address (u32) or IPv6 address handle (lb/address.ts). */
  address: number;
  /** Port; 0 = the virtual port. */
  port: number;
  /** Weight, 0..65535. */
  weight: number;
}

/** One virtual service from the flags. */
export interface ServiceConfig {
  protocol: Protocol;
  /** VIP: u32, or an IPv6 address handle (lb/address.ts). */
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
  const ip = parseAddress(text);
  if (ip === null) throw new ConfigError(`${what}: "${text}" is not an IPv4 or IPv6 address`);
  return ip;
}

/**
 * Why `addr` (u32 or IPv6 handle) cannot be a virtual address, or null: it must be a unicast
 * address a client can reach (not 0, broadcast, multicast, class E or loopback; for IPv6 not
 * ::, ::1, multicast or link-local).
 */
export function vipProblem(addr: number): string | null {
  const b = ipv6Bytes(addr);
  if (b !== null) {
    const loopback = b[15] === 1 && b.subarray(0, 15).every((x) => x === 0);
    if (isIpv6Unspecified(b) || loopback || isIpv6Multicast(b) || isIpv6LinkLocal(b)) {
      return `${formatAddress(addr)} cannot be a virtual address (not a global unicast address)`;
    }
    return null;
  }
  if (addr === 0 || addr === 0xffffffff || addr >>> 28 >= 14 || addr >>> 24 === 127) {
    return `${formatIpv4(addr)} cannot be a virtual address (not a unicast address)`;
  }
  return null;
}

/** Parses `tcp:VIP:PORT` or `udp:VIP:PORT` (an IPv6 VIP in brackets: `tcp:[2001:db8::1]:80`). */
export function parseServiceSpec(text: string): { protocol: Protocol; vip: number; port: number } {
  const m = /^([a-z]+):(.*)$/.exec(text);
  const hp = m === null ? null : splitHostPort(m[2]);
  if (m === null || hp === null || hp.port === undefined) {
    throw new ConfigError(
      `--service: "${text}" is not PROTO:VIP:PORT (e.g. tcp:10.0.0.100:80 or ` +
        "tcp:[2001:db8::100]:80)",
    );
  }
  const proto = m[1];
  if (proto !== "tcp" && proto !== "udp") {
    throw new ConfigError(`--service: protocol "${proto}" in "${text}" is not tcp or udp`);
  }
  const addr = ipOf(hp.host, "--service");
  const bad = vipProblem(addr);
  if (bad !== null) throw new ConfigError(`--service: ${bad}`);
  return { protocol: proto, vip: addr, port: portOf(hp.port, "--service", 1) };
}

/** Parses `IP[:PORT][,weight=N]` (IPv6: `[2001:db8::10]:80`, or bare without a port). */
export function parseRealSpec(text: string): RealConfig {
  const [hostPort, ...opts] = text.split(",");
  const hp = splitHostPort(hostPort);
  if (hp === null) {
    throw new ConfigError(`--real: "${text}" is not IP[:PORT][,weight=N] or [IPv6][:PORT]`);
  }
  const address = ipOf(hp.host, "--real");
  const port = hp.port === undefined ? 0 : portOf(hp.port, "--real", 1);
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
  return `${s.protocol}:${formatAddressPort(s.vip, s.port)}`;
}

/**
 * The message for a real server whose family is not its service's VIP's, or null when they
 * match: IPVS forwards an IPv4 service to IPv4 servers and an IPv6 one to IPv6 servers.
 */
export function familyMismatch(vip: number, real: number): string | null {
  const v6 = isIpv6Address(vip);
  if (v6 === isIpv6Address(real)) return null;
  return `real server ${formatAddress(real)} is ${v6 ? "IPv4" : "IPv6"} but the VIP ` +
    `${formatAddress(vip)} is ${v6 ? "IPv6" : "IPv4"}: a service's real servers must be of ` +
    "its VIP's family";
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
        const mixed = familyMismatch(current.vip, real.address);
        if (mixed !== null) throw new ConfigError(`--real ${value}: ${mixed}`);
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
            `--real ${
              formatAddressPort(r.address, r.port)
            }: method ${s.method} keeps the virtual ` +
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
  /** The host's IPv6 addresses (ADDR/PREFIX), if any: IPv6 services need one. */
  ipv6?: readonly string[];
  /** The IPv6 default gateway, if any. */
  gateway6?: string;
}

/** True when the IPv6 address `a` is on the prefix of one of `cidrs` ("ADDR/PREFIX"). */
function onLink6(a: Uint8Array, cidrs: readonly string[]): boolean {
  return cidrs.some((c) => {
    const [text, p] = c.split("/");
    const net = parseIpv6(text);
    const prefix = Number(p ?? 128);
    if (net === null || !(prefix >= 0 && prefix <= 128)) return false;
    for (let bit = 0; bit < prefix; bit++) {
      const m = 0x80 >>> (bit & 7);
      if ((a[bit >>> 3] & m) !== (net[bit >>> 3] & m)) return false;
    }
    return true;
  });
}

/**
 * Checks the configuration against the host's address: a DR real server must be on the
 * balancer's link (its MAC comes from ARP: IPVS DR needs the same L2 segment); NAT and TUN real
 * servers must be on the link or reachable through the gateway; a real server cannot be the
 * balancer itself or a VIP. Throws a ConfigError naming the real server. IPv6 real servers by
 * the same rules against the host's IPv6 prefixes and IPv6 gateway.
 */
export function checkAgainstHost(config: BalancerConfig, host: HostAddress): void {
  const mask = prefixMask(host.prefix);
  const onLink = (ip: number) => ((ip & mask) >>> 0) === ((host.address & mask) >>> 0);
  const vips = new Set(config.services.map((s) => s.vip));
  for (const s of config.services) {
    if (isIpv6Address(s.vip) && (host.ipv6 ?? []).length === 0) {
      throw new ConfigError(
        `--service ${describe(s)}: an IPv6 service needs an IPv6 address on the balancer ` +
          "(--ip ADDR/PREFIX)",
      );
    }
    for (const r of s.reals) {
      const b6 = ipv6Bytes(r.address);
      if (b6 !== null) {
        const text = formatAddress(r.address);
        const own = (host.ipv6 ?? []).some((c) => parseAddress(c.split("/")[0]) === r.address);
        if (own || vips.has(r.address)) {
          throw new ConfigError(`--real ${text}: is the balancer's own address or a VIP`);
        }
        const linked = onLink6(b6, host.ipv6 ?? []);
        if (s.method === "dr" && !linked) {
          throw new ConfigError(
            `--real ${text}: direct routing needs the real server on the balancer's link ` +
              `(${(host.ipv6 ?? []).join(", ")}); use --method tun`,
          );
        }
        if (!linked && host.gateway6 === undefined) {
          throw new ConfigError(`--real ${text}: not on the balancer's link and no IPv6 --gateway`);
        }
        continue;
      }
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
