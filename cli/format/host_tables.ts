/**
 * The host's tables printed like the kernel tools print theirs: `arp -a`, `route -n`, and the
 * counters of `lb.ts stats` (grouped like `netstat -s`).
 *
 * @module
 */
import type { Ipv6NeighborRow, Ipv6RouteRow } from "../../stack/net/ipv6_host.ts";
import { parseIpv4 } from "../../stack/wire/address.ts";
import { left, right } from "./table.ts";

/** An ARP cache entry as the control channel reports it. */
export interface ArpRow {
  /** Dotted quad. */
  ip: string;
  /** "aa:bb:cc:dd:ee:ff", or null while incomplete. */
  mac: string | null;
  state: string;
}

/** `arp -a` layout: `? (10.0.0.1) at 52:54:00:12:34:56 [ether] on tap0`. */
export function formatArp(rows: ArpRow[], iface: string): string {
  return rows
    .slice()
    .sort((a, b) => (parseIpv4(a.ip) ?? 0) - (parseIpv4(b.ip) ?? 0))
    .map((r) =>
      r.mac === null
        ? `? (${r.ip}) at <incomplete> on ${iface}`
        : `? (${r.ip}) at ${r.mac} [ether] on ${iface}`
    )
    .join("\n");
}

/** A route as the control channel reports it. */
export interface RouteRow {
  /** Dotted quads. */
  destination: string;
  gateway: string;
  genmask: string;
  flags: string;
  metric: number;
  use: number;
  iface: string;
}

/** `route -n` layout (net-tools: "%-15s %-15s %-15s %-5s %-6d %-2d %7d %s"). */
export function formatRoutes(rows: RouteRow[]): string {
  const lines = [
    "Kernel IP routing table",
    "Destination     Gateway         Genmask         Flags Metric Ref    Use Iface",
  ];
  for (const r of rows) {
    lines.push(
      [
        left(r.destination, 15),
        left(r.gateway, 15),
        left(r.genmask, 15),
        left(r.flags, 5),
        left(r.metric, 6),
        left(0, 2),
        right(r.use, 7),
        r.iface,
      ].join(" "),
    );
  }
  return lines.join("\n");
}

/**
 * Counters grouped by their prefix (`drop.ipv4_bad_checksum` goes under "drop:"), like
 * `netstat -s` groups by protocol; zero counters are left out as netstat does by default.
 */
export function formatCounters(counters: Record<string, number>): string {
  const groups = new Map<string, [string, number][]>();
  for (const [name, value] of Object.entries(counters)) {
    if (value === 0) continue;
    const dot = name.indexOf(".");
    const group = dot < 0 ? "stack" : name.slice(0, dot);
    const key = dot < 0 ? name : name.slice(dot + 1);
    if (!groups.has(group)) groups.set(group, []);
    groups.get(group)!.push([key, value]);
  }
  const out: string[] = [];
  for (const group of [...groups.keys()].sort()) {
    out.push(`${group}:`);
    for (const [key, value] of groups.get(group)!.sort((a, b) => a[0].localeCompare(b[0]))) {
      out.push(`    ${key}: ${value}`);
    }
  }
  return out.join("\n");
}

/**
 * `ip -6 neigh` layout, one line per neighbor: `ADDR dev IFACE [lladdr MAC] [router] STATE`
 * (iproute2 leaves `lladdr` out while the address is unknown).
 */
export function formatNeigh6(rows: Ipv6NeighborRow[], iface: string): string {
  return rows.map((r) =>
    [
      r.address,
      "dev",
      iface,
      ...(r.mac === "" ? [] : ["lladdr", r.mac]),
      ...(r.router ? ["router"] : []),
      r.state,
    ].join(" ")
  ).join("\n");
}

/**
 * net-tools' `route -n -A inet6` layout (lib/inet6_gr.c: "%-30s %-26s %-4s %-3d %-1d%6d %s"),
 * the reference count 1 and the use count 0 as the stack keeps neither.
 */
export function formatRoutes6(rows: Ipv6RouteRow[], iface: string): string {
  const lines = [
    "Kernel IPv6 routing table",
    "Destination                    Next Hop                   Flag Met Ref Use If",
  ];
  for (const r of rows) {
    lines.push(
      `${left(r.destination, 30)} ${left(r.nextHop, 26)} ${left(r.flags, 4)} ` +
        `${left(r.metric, 3)} ${left(1, 1)}${right(0, 6)} ${iface}`,
    );
  }
  return lines.join("\n");
}
