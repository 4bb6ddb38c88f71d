/**
 * The flags every command that runs a userspace host shares (`stack`, `run`, `ping --tap`,
 * `fetch`), and their validation into typed options.
 *
 * @module
 */
import {
  cidrArg,
  type Flags,
  type FlagSpec,
  ifnameArg,
  intArg,
  ipArg,
  macArg,
  str,
  UsageError,
} from "./args.ts";
import { prefixMask } from "../stack/wire/address.ts";
import { parseIpv6 } from "../stack/wire/address6.ts";
import { type ImpairSpec, parseImpairSpec } from "../stack/link/impair.ts";
import type { TcpStackOptions } from "../stack/tcp/config.ts";

/** Where a running instance listens for `lb.ts arp|route|stats|...` unless `--control` says. */
export const DEFAULT_CONTROL_PATH = "/run/lbts.sock";

/** Flags of a host: the TAP, its address, and how it is inspected. */
export const HOST_FLAG_SPEC: FlagSpec = {
  tap: { type: "string" },
  ip: { type: "string", multiple: true },
  gateway: { type: "string", multiple: true },
  mac: { type: "string" },
  mtu: { type: "string" },
  pcap: { type: "string" },
  control: { type: "string" },
  impair: { type: "string" },
  "tcp-mem": { type: "string" },
  "max-time-wait": { type: "string" },
  "max-orphans": { type: "string" },
  "tcp-cc": { type: "string" },
  nodad: { type: "boolean" },
  "tcp-recovery": { type: "string" },
};

/** Validated host options. */
export interface HostOptions {
  tap: string;
  address: number;
  prefix: number;
  gateway?: number;
  mac?: Uint8Array;
  mtu: number;
  pcap?: string;
  /** The control socket path; null runs without one (a short-lived host such as `ping --tap`). */
  control: string | null;
  /** Seeded loss/reorder/duplication/delay on the device (`--impair`, stack/link/impair.ts). */
  impair?: ImpairSpec;
  /**
   * `--offload` / `--no-offload` (`lb.ts run` and `stack` only, see {@link OFFLOAD_FLAG_SPEC}):
   * the TAP carries virtio-net headers, TCP super-frames cross it whole (stack/link/offload.ts).
   */
  offload?: boolean;
  /** IPv6 addresses with prefixes (`--ip 2001:db8::2/64`, repeatable beside the IPv4 one). */
  ipv6?: string[];
  /** False with `--nodad`: no duplicate address detection for the IPv6 addresses. */
  dad?: boolean;
  /** The IPv6 default gateway (`--gateway 2001:db8::1` or a link-local fe80:: address). */
  gateway6?: string;
  /**
   * TCP's bounds (`--tcp-mem SIZE`, `--max-time-wait N`, `--max-orphans N`) and algorithms
   * (`--tcp-cc cubic|newreno|bbr`, `--tcp-recovery rack|rfc6675`; stack/tcp/config.ts): absent
   * ones keep their defaults (512 MiB, 65536, 65536, cubic, rack).
   */
  tcp: Pick<
    TcpStackOptions,
    "memoryLimit" | "maxTimeWait" | "maxOrphans" | "congestion" | "recovery"
  >;
}

/** An IPv6 "ADDR/PREFIX" value of --ip, returned as given (canonical checks here). */
function ipv6CidrArg(text: string): string {
  const slash = text.indexOf("/");
  const prefix = slash < 0 ? NaN : Number(text.slice(slash + 1));
  if (parseIpv6(slash < 0 ? text : text.slice(0, slash)) === null) {
    throw new UsageError(`--ip: "${text}" is not an IPv6 address/prefix`);
  }
  if (!Number.isInteger(prefix) || prefix < 1 || prefix > 128) {
    throw new UsageError(`--ip: "${text}" needs a prefix length in 1..128 (e.g. /64)`);
  }
  return text;
}

/**
 * An IPv6 gateway: an address on the prefix of one of the host's IPv6 addresses, or link-local
 * (fe80::/10, on-link by definition: RFC 4291 2.5.6), and not one of those addresses.
 */
function ipv6GatewayArg(text: string, cidrs: string[]): string {
  const g = parseIpv6(text);
  if (g === null) throw new UsageError(`--gateway: "${text}" is not an IPv6 address`);
  if (cidrs.length === 0) {
    throw new UsageError(`--gateway ${text}: the host has no IPv6 address (--ip ADDR/PREFIX)`);
  }
  const linkLocal = g[0] === 0xfe && (g[1] & 0xc0) === 0x80;
  let onLink = linkLocal;
  for (const c of cidrs) {
    const [a, p] = [parseIpv6(c.slice(0, c.indexOf("/")))!, Number(c.slice(c.indexOf("/") + 1))];
    if (a.every((b, i) => b === g[i])) {
      throw new UsageError(`--gateway: ${text} is the host's own address`);
    }
    let same = true;
    for (let bit = 0; bit < p && same; bit++) {
      const m = 0x80 >> (bit & 7);
      same = (a[bit >> 3] & m) === (g[bit >> 3] & m);
    }
    if (same) onLink = true;
  }
  if (!onLink) {
    throw new UsageError(
      `--gateway: ${text} is on none of the host's IPv6 prefixes, so it cannot be reached directly`,
    );
  }
  return text;
}

/** Parses a byte size: a whole number with an optional K, M or G (binary units), e.g. "512M". */
export function sizeArg(text: string, what: string, min: number, max: number): number {
  const m = /^([0-9]+)([KMG]?)$/i.exec(text);
  if (m === null) throw new UsageError(`${what}: "${text}" is not a size (e.g. 512M, 2G)`);
  const unit =
    { "": 1, K: 1024, M: 1 << 20, G: 1 << 30 }[m[2].toUpperCase() as "" | "K" | "M" | "G"];
  const n = Number(m[1]) * unit;
  if (n < min || n > max) {
    throw new UsageError(`${what}: ${text} is outside ${min >>> 20}M..${max / (1 << 30)}G`);
  }
  return n;
}

/**
 * `--offload` and `--no-offload`, which the commands that run a long-lived host add to their
 * flags. `lb.ts run` has offloads on unless `--no-offload` (docs/BENCHMARKS.md: NAT bulk through
 * the balancer goes from ~1 to ~15-19 Gbit/s; a kernel that refuses TUNSETOFFLOAD falls back to
 * plain frames by itself); `lb.ts stack` has them off unless `--offload`.
 */
export const OFFLOAD_FLAG_SPEC: FlagSpec = {
  offload: { type: "boolean" },
  "no-offload": { type: "boolean" },
};

/**
 * The offload choice of `flags`: `--offload` or `--no-offload` (both at once is a usage error),
 * else `byDefault`.
 */
export function offloadChoice(command: string, flags: Flags, byDefault: boolean): boolean {
  if (flags.offload === true && flags["no-offload"] === true) {
    throw new UsageError(`${command}: --offload and --no-offload contradict each other`);
  }
  if (flags.offload === true) return true;
  if (flags["no-offload"] === true) return false;
  return byDefault;
}

/** Validates the host flags of `command`; every problem is a UsageError naming the flag. */
export function hostOptions(command: string, flags: Flags): HostOptions {
  const tap = str(flags, "tap");
  if (tap === undefined) throw new UsageError(`${command}: --tap NAME is required`);
  // --ip repeats: one IPv4 address/prefix (required), and IPv6 ones beside it.
  const ipFlag = flags.ip;
  const ips = (ipFlag === undefined ? [] : Array.isArray(ipFlag) ? ipFlag : [ipFlag]).map(String);
  const v4 = ips.filter((x) => !x.includes(":"));
  const v6 = ips.filter((x) => x.includes(":"));
  if (v4.length === 0) throw new UsageError(`${command}: --ip ADDR/PREFIX is required`);
  if (v4.length > 1) {
    throw new UsageError(`--ip: one IPv4 address per host, got ${v4.join(" and ")}`);
  }
  const ip = v4[0];
  const { addr, prefix } = cidrArg(ip, "--ip");
  if (prefix < 1 || prefix > 32) throw new UsageError(`--ip: prefix /${prefix} is outside 1..32`);
  const opts: HostOptions = {
    tap: ifnameArg(tap),
    address: addr,
    prefix,
    mtu: 1500,
    control: str(flags, "control") ?? DEFAULT_CONTROL_PATH,
    tcp: {},
  };
  const mask = prefixMask(prefix);
  if (prefix < 31 && ((addr & ~mask) === 0 || (addr | ~mask) >>> 0 === addr)) {
    throw new UsageError(`--ip: ${ip} is the network or broadcast address of its subnet`);
  }
  if (v6.length > 0) opts.ipv6 = v6.map(ipv6CidrArg);
  // Linux's `nodad` address flag: use the IPv6 addresses at once, without RFC 4862 DAD.
  if (flags.nodad === true) opts.dad = false;
  // --gateway repeats like --ip: at most one IPv4 and one IPv6 default gateway.
  const gwFlag = flags.gateway;
  const gws = (gwFlag === undefined ? [] : Array.isArray(gwFlag) ? gwFlag : [gwFlag]).map(String);
  const gw6 = gws.filter((x) => x.includes(":"));
  const gw4 = gws.filter((x) => !x.includes(":"));
  if (gw4.length > 1 || gw6.length > 1) {
    throw new UsageError(`--gateway: one per address family, got ${gws.join(" and ")}`);
  }
  if (gw6.length === 1) opts.gateway6 = ipv6GatewayArg(gw6[0], opts.ipv6 ?? []);
  const gw = gw4[0];
  if (gw !== undefined) {
    const g = ipArg(gw, "--gateway");
    if (((g & mask) >>> 0) !== ((addr & mask) >>> 0)) {
      throw new UsageError(
        `--gateway: ${gw} is not inside ${ip}, so it cannot be reached directly`,
      );
    }
    if (g === addr) throw new UsageError(`--gateway: ${gw} is the host's own address`);
    opts.gateway = g;
  }
  const mac = str(flags, "mac");
  if (mac !== undefined) opts.mac = macArg(mac, "--mac");
  const mtu = str(flags, "mtu");
  if (mtu !== undefined) opts.mtu = intArg(mtu, "--mtu", 576, 9000);
  const pcap = str(flags, "pcap");
  if (pcap !== undefined) {
    if (pcap === "") throw new UsageError("--pcap needs a file name");
    opts.pcap = pcap;
  }
  if (opts.control === "") throw new UsageError("--control needs a socket path");
  const impair = str(flags, "impair");
  if (impair !== undefined) {
    const spec = parseImpairSpec(impair);
    if (typeof spec === "string") throw new UsageError(`--impair: ${spec}`);
    opts.impair = spec;
  }
  opts.offload = offloadChoice(command, flags, command === "run");
  const mem = str(flags, "tcp-mem");
  if (mem !== undefined) opts.tcp.memoryLimit = sizeArg(mem, "--tcp-mem", 1 << 20, 64 * 2 ** 30);
  const tw = str(flags, "max-time-wait");
  if (tw !== undefined) opts.tcp.maxTimeWait = intArg(tw, "--max-time-wait", 0, 1 << 24);
  const orphans = str(flags, "max-orphans");
  if (orphans !== undefined) opts.tcp.maxOrphans = intArg(orphans, "--max-orphans", 0, 1 << 24);
  // The congestion control and loss detection of the host's own TCP (Linux's
  // net.ipv4.tcp_congestion_control and tcp_recovery sysctls).
  const cc = str(flags, "tcp-cc");
  if (cc !== undefined) {
    if (cc !== "cubic" && cc !== "newreno" && cc !== "bbr") {
      throw new UsageError(`--tcp-cc must be cubic, newreno or bbr, got "${cc}"`);
    }
    opts.tcp.congestion = cc;
  }
  const rec = str(flags, "tcp-recovery");
  if (rec !== undefined) {
    if (rec !== "rack" && rec !== "rfc6675") {
      throw new UsageError(`--tcp-recovery must be rack or rfc6675, got "${rec}"`);
    }
    opts.tcp.recovery = rec;
  }
  return opts;
}
