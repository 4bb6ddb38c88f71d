/**
 * `lb.ts arp`, `lb.ts route` and `lb.ts stats`: read a running instance's tables over its control
 * socket and print them like `arp -a`, `route -n` and `netstat -s`. `--json` prints the raw
 * snapshot instead, for scripts.
 *
 * @module
 */
import { parseFlags, str } from "../args.ts";
import { DEFAULT_CONTROL_PATH } from "../host_flags.ts";
import { controlRequest } from "../control/client.ts";
import {
  type ArpRow,
  formatArp,
  formatCounters,
  formatNeigh6,
  formatRoutes,
  formatRoutes6,
  type RouteRow,
} from "../format/host_tables.ts";
import { formatTcpUsage, type TcpUsageRow } from "../format/netstat.ts";
import type { Ipv6NeighborRow, Ipv6RouteRow } from "../../stack/net/ipv6_host.ts";

/** The part of `Stack.snapshot()` these commands print. */
interface Snapshot {
  name: string;
  device: Record<string, number>;
  arp: ArpRow[];
  routes: RouteRow[];
  counters: Record<string, number>;
  /** Absent from instances older than the TCP bounds. */
  tcpUsage?: TcpUsageRow;
  /** The IPv6 neighbor cache; absent without IPv6. */
  neigh6?: Ipv6NeighborRow[];
  /** The IPv6 routes; absent without IPv6. */
  routes6?: Ipv6RouteRow[];
}

const SPEC = { control: { type: "string" }, json: { type: "boolean" } } as const;

async function snapshot(command: string, args: string[]): Promise<[Snapshot, boolean]> {
  const { flags } = parseFlags(command, args, SPEC);
  const path = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const snap = await controlRequest(path, { cmd: "snapshot" }) as Snapshot;
  return [snap, flags.json === true];
}

/** `lb.ts arp [--control PATH] [--json]`. */
export async function arpCommand(args: string[]): Promise<number> {
  const [snap, json] = await snapshot("arp", args);
  const out = json ? JSON.stringify(snap.arp, null, 2) : formatArp(snap.arp, snap.name);
  if (out !== "") console.log(out);
  return 0;
}

/**
 * `lb.ts neigh [--control PATH] [--json]`: the IPv6 neighbor cache as `ip -6 neigh` prints it
 * ("2001:db8::1 dev tap0 lladdr 02:00:00:00:00:09 router REACHABLE").
 */
export async function neighCommand(args: string[]): Promise<number> {
  const [snap, json] = await snapshot("neigh", args);
  const rows = snap.neigh6 ?? [];
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return 0;
  }
  const out = formatNeigh6(rows, snap.name);
  if (out !== "") console.log(out);
  return 0;
}

/**
 * `lb.ts route [-6] [--control PATH] [--json]`: the IPv4 table like `route -n`, or with `-6`
 * the IPv6 one like `route -n -A inet6` (empty without IPv6 addresses).
 */
export async function routeCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("route", args, { ...SPEC, ipv6: { type: "boolean", short: "6" } });
  const path = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const snap = await controlRequest(path, { cmd: "snapshot" }) as Snapshot;
  const json = flags.json === true;
  if (flags.ipv6 === true) {
    const rows = snap.routes6 ?? [];
    console.log(json ? JSON.stringify(rows, null, 2) : formatRoutes6(rows, snap.name));
  } else {
    console.log(json ? JSON.stringify(snap.routes, null, 2) : formatRoutes(snap.routes));
  }
  return 0;
}

/** `lb.ts stats [--control PATH] [--json]`: device counters, then stack counters by group. */
export async function statsCommand(args: string[]): Promise<number> {
  const [snap, json] = await snapshot("stats", args);
  if (json) {
    console.log(
      JSON.stringify(
        {
          name: snap.name,
          device: snap.device,
          counters: snap.counters,
          tcpUsage: snap.tcpUsage,
        },
        null,
        2,
      ),
    );
    return 0;
  }
  const d = snap.device;
  console.log(`${snap.name}:`);
  for (const k of ["rxFrames", "rxBytes", "rxDropped", "txFrames", "txBytes", "txDropped"]) {
    console.log(`    ${k}: ${d[k] ?? 0}`);
  }
  const counters = formatCounters(snap.counters);
  if (counters !== "") console.log(counters);
  if (snap.tcpUsage !== undefined) console.log(formatTcpUsage(snap.tcpUsage));
  return 0;
}
