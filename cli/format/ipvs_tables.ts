/**
 * The balancer's tables in ipvsadm's layout (ipvsadm.c: `list_all`, `print_title`,
 * `print_service_entry`, `print_largenum`, `list_conn`, `print_conn`), so operators read them
 * as they read `ipvsadm -L -n`, `ipvsadm -L -n --stats` and `ipvsadm -L -n -c`:
 *
 * ```
 * IP Virtual Server version 1.2.1 (size=4096)
 * Prot LocalAddress:Port Scheduler Flags
 *   -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
 * TCP  10.0.0.100:80 rr persistent 300
 *   -> 10.0.0.11:80                 Route   1      0          0
 * ```
 *
 * Services are sorted by (protocol, address, port) and real servers by (address, port), as
 * ipvsadm sorts them unless `--nosort`. The "size" is the connection-table bound.
 *
 * @module
 */
import { parseIpv4 } from "../../stack/wire/address.ts";
import { parseIpv6 } from "../../stack/wire/address6.ts";
import { formatExpire } from "../../lb/conntrack/conn_info.ts";
import type {
  BalancerSnapshot,
  ConnsSnapshot,
  RealSnapshot,
  ServiceSnapshot,
} from "../../lb/balancer.ts";
import { left, right } from "./table.ts";
import type { Rates } from "../../lb/rates.ts";

/** The IPVS version ipvsadm reports for current kernels. */
const IPVS_VERSION = "1.2.1";

/** ipvsadm's Forward column (`fwd_name`): Route, Masq, Tunnel. */
export function forwardName(method: string): string {
  return method === "nat" ? "Masq" : method === "tun" ? "Tunnel" : "Route";
}

/**
 * `print_largenum` without `--exact`: right-aligned in 9 columns below 10^8, then in thousands
 * (K), millions (M), billions (G) and trillions (T) in 8 columns plus the suffix.
 */
export function largeNum(n: number): string {
  if (n < 1e8) return right(n, 9);
  if (n < 1e9) return right(Math.floor(n / 1e3), 8) + "K";
  if (n < 1e11) return right(Math.floor(n / 1e6), 8) + "M";
  if (n < 1e14) return right(Math.floor(n / 1e9), 8) + "G";
  return right(Math.floor(n / 1e12), 8) + "T";
}

/** Sorts IPv4 addresses first by value, then IPv6 ones by their bytes (as ipvsadm's sort). */
function compareIp(a: string, b: string): number {
  const a4 = parseIpv4(a);
  const b4 = parseIpv4(b);
  if (a4 !== null || b4 !== null) return a4 === null ? 1 : b4 === null ? -1 : a4 - b4;
  const a6 = parseIpv6(a) ?? new Uint8Array(16);
  const b6 = parseIpv6(b) ?? new Uint8Array(16);
  for (let i = 0; i < 16; i++) if (a6[i] !== b6[i]) return a6[i] - b6[i];
  return 0;
}

/**
 * "10.0.0.1:80", or "[2001:db8::1]:80" as ipvsadm writes an IPv6 address and port; `cut`
 * characters at most for IPv4 (ipvsadm's fixed buffers), never cutting an IPv6 name.
 */
function addrPort(ip: string, port: number, cut: number): string {
  return ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`.slice(0, cut);
}

function sortedServices(snap: BalancerSnapshot): ServiceSnapshot[] {
  const protoOrder = (p: string) => (p === "tcp" ? 6 : 17);
  return snap.services.slice().sort((a, b) =>
    protoOrder(a.protocol) - protoOrder(b.protocol) || compareIp(a.vip, b.vip) ||
    a.port - b.port
  );
}

/**
 * "TCP  10.0.0.100:80", cut to 33 characters as ipvsadm does (`svc_name[33] = '\0'`); an IPv6
 * service "TCP  [2001:db8::100]:80", whole.
 */
function serviceName(s: ServiceSnapshot): string {
  const name = `${s.protocol.toUpperCase()}  ${addrPort(s.vip, s.port, 1000)}`;
  return s.vip.includes(":") ? name : name.slice(0, 33);
}

/** `ipvsadm -L -n`. */
export function formatServices(snap: BalancerSnapshot): string {
  const lines = [
    `IP Virtual Server version ${IPVS_VERSION} (size=${snap.capacity})`,
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
  ];
  for (const s of sortedServices(snap)) {
    // ipvsadm.c print_service_entry: scheduler, its flags, then " persistent TIMEOUT".
    lines.push(
      `${serviceName(s)} ${s.scheduler}${s.flags === "" ? "" : ` (${s.flags})`}` +
        (s.persistence === undefined ? "" : ` persistent ${s.persistence}`),
    );
    const reals = s.reals.slice().sort((a, b) =>
      compareIp(a.address, b.address) || a.port - b.port
    );
    for (const r of reals) {
      // printf("  -> %-28s %-7s %-6d %-10u %-10u\n", ...): the trailing pad is ipvsadm's too.
      lines.push(
        `  -> ${left(addrPort(r.address, r.port, 28), 28)} ${left(forwardName(r.method), 7)} ` +
          `${left(r.weight, 6)} ${left(r.activeConns, 10)} ${left(r.inactiveConns, 10)}` +
          // Not ipvsadm's: a failed health check marks the server after the last column.
          (r.available === false ? " DOWN" : ""),
      );
    }
  }
  return lines.join("\n");
}

/** `ipvsadm -L -n --stats`. */
export function formatStats(snap: BalancerSnapshot): string {
  const lines = [
    `IP Virtual Server version ${IPVS_VERSION} (size=${snap.capacity})`,
    `${left("Prot LocalAddress:Port", 33)} ${right("Conns", 8)} ${right("InPkts", 8)} ` +
    `${right("OutPkts", 8)} ${right("InBytes", 8)} ${right("OutBytes", 8)}`,
    "  -> RemoteAddress:Port",
  ];
  const nums = (
    x: { conns: number; packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number },
  ) =>
    largeNum(x.conns) + largeNum(x.packetsIn) + largeNum(x.packetsOut) + largeNum(x.bytesIn) +
    largeNum(x.bytesOut);
  return numberRows(lines, snap, nums);
}

/**
 * `ipvsadm -L -n --rate`: the smoothed rates (lb/rates.ts) in the stats layout (ipvsadm.c
 * `print_title` with FMT_RATE, `print_largenum` per column); zeros when the instance sent none.
 */
export function formatRates(snap: BalancerSnapshot): string {
  const lines = [
    `IP Virtual Server version ${IPVS_VERSION} (size=${snap.capacity})`,
    `${left("Prot LocalAddress:Port", 33)} ${right("CPS", 8)} ${right("InPPS", 8)} ` +
    `${right("OutPPS", 8)} ${right("InBPS", 8)} ${right("OutBPS", 8)}`,
    "  -> RemoteAddress:Port",
  ];
  const nums = (x: { rates?: Rates }) => {
    const r = x.rates;
    if (r === undefined) return largeNum(0).repeat(5);
    return largeNum(r.cps) + largeNum(r.inPps) + largeNum(r.outPps) + largeNum(r.inBps) +
      largeNum(r.outBps);
  };
  return numberRows(lines, snap, nums);
}

/**
 * The rows of the `--stats` and `--rate` layouts: each service, then its real servers sorted by
 * address and port, each followed by its numbers (`nums`); appended to the header `lines`.
 */
function numberRows(
  lines: string[],
  snap: BalancerSnapshot,
  nums: (x: ServiceSnapshot | RealSnapshot) => string,
): string {
  for (const s of sortedServices(snap)) {
    lines.push(left(serviceName(s), 33) + nums(s));
    const reals = s.reals.slice().sort((a, b) =>
      compareIp(a.address, b.address) || a.port - b.port
    );
    for (const r of reals) {
      lines.push(`  -> ${left(addrPort(r.address, r.port, 28), 28)}` + nums(r));
    }
  }
  return lines.join("\n");
}

/** `ipvsadm -L -n -c`: "pro expire state source virtual destination". */
export function formatConns(snap: ConnsSnapshot): string {
  const lines = [
    "IPVS connection entries",
    `pro expire ${left("state", 11)} ${left("source", 18)} ${left("virtual", 18)} destination`,
  ];
  // ipvsadm prints /proc/net/ip_vs_conn's order (hash order); here: by expiry, soonest first.
  const entries = snap.entries.slice().sort((a, b) => a.expiresInMs - b.expiresInMs);
  for (const c of entries) {
    // printf("%-3s %-6s %-11s %-18s %-18s %s\n", ...)
    lines.push(
      `${left(c.protocol.toUpperCase(), 3)} ${left(formatExpire(c.expiresInMs), 6)} ` +
        `${left(c.state, 11)} ${left(c.client, 18)} ${left(c.virtual, 18)} ${c.real}`,
    );
  }
  return lines.join("\n");
}
