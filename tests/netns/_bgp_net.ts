/**
 * The scale-out network of the `--bgp` tests and the failover benchmark: tests/netns/_lb_net.ts's
 * client, kernel router and three kernel DR real servers, plus BIRD 2 on the router (multipath
 * with `merge paths`, the multipath hash over the 5-tuple: policy 3, fields 0x37) and up to three
 * `lb.ts run --bgp ROUTER,bfd` instances on TAPs in the real servers' segment, each announcing
 * the VIP with its own `--ip` as next hop.
 *
 * ```
 *  client 10.78.0.10 ── router 10.78.0.254 | 10.77.0.254 (BIRD, ECMP) ──┬── lb1 10.77.0.2 (TAP)
 *                                                                       ├── lb2 10.77.0.3 (TAP)
 *                                                                       ├── lb3 10.77.0.4 (TAP)
 *                                                                       └── r1..r3 10.77.0.11-13
 * ```
 */
import type { Topology } from "./topology.ts";
import { buildLbNet, type LbNet, ROUTER, VIP } from "./_lb_net.ts";
import type { Proc } from "./topology.ts";

/** The instances' addresses, by index 1..3. */
export const INSTANCE_IPS = ["", "10.77.0.2", "10.77.0.3", "10.77.0.4"];
/** The real servers, as `--real` flags. */
export const REALS = ["--real", "10.77.0.11", "--real", "10.77.0.12", "--real", "10.77.0.13"];

/** The network plus the router's BIRD. */
export interface BgpNet extends LbNet {
  /** TAPs for instances 1..3 (index 0 unused). */
  taps: string[];
  birdSocket: string;
  /** The router's BIRD configuration file. */
  birdConfig: string;
  birdLog: string;
  /** BIRD run directories of the instances, removed by {@link cleanupBgp}. */
  runDirs: string[];
}

/**
 * The router's BIRD: one eBGP neighbour (AS 65001) per instance address, BFD 100 ms x 3 (or none,
 * with a hold time of `holdS`, for measuring BGP's timers alone).
 */
export function routerConfig(log: string, bfd = true, holdS?: number): string {
  const lines = [
    `log "${log}" all;`,
    `router id ${ROUTER};`,
    "protocol device {}",
    // One multipath route per VIP: every instance's next hop (BIRD's merge paths, ECMP).
    "protocol kernel { ipv4 { export all; }; merge paths on; }",
    'protocol bfd { interface "*" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }',
    // error wait 1 s: a restarted instance is taken back at once (BIRD's default waits 60 s).
    `template bgp lbs { local ${ROUTER} as 65000; direct; ${bfd ? "bfd on; " : ""}` +
    `${holdS !== undefined ? `hold time ${holdS}; ` : ""}connect retry time 1; ` +
    "error wait time 1, 5; ipv4 { import all; export none; }; }",
  ];
  for (let i = 1; i <= 3; i++) {
    lines.push(`protocol bgp lb${i} from lbs { neighbor ${INSTANCE_IPS[i]} as 65001; }`);
  }
  return lines.join("\n") + "\n";
}

/** Builds the network and starts the router's BIRD. */
export async function buildBgpNet(t: Topology): Promise<BgpNet> {
  const net = await buildLbNet(t, 3, "dr");
  // Policy 1 hashes a per-socket random value over veth (not sticky); 3 with 0x37 hashes the
  // addresses, the protocol and the ports.
  await t.execOk(net.router, [
    "sysctl",
    "-qw",
    "net.ipv4.fib_multipath_hash_policy=3",
    "net.ipv4.fib_multipath_hash_fields=0x37",
  ]);
  const taps = [
    "",
    net.tap,
    await t.tap(net.hub, net.br1, "tpb"),
    await t.tap(net.hub, net.br1, "tpc"),
  ];
  const conf = t.tempPath("rbird.conf");
  const birdSocket = t.tempPath("rbird.ctl");
  const birdLog = t.tempPath("rbird.log");
  Deno.writeTextFileSync(conf, routerConfig(birdLog));
  const bird = t.spawn(net.router, [
    "bird",
    "-f",
    "-c",
    conf,
    "-s",
    birdSocket,
    "-P",
    t.tempPath("rbird.pid"),
  ]);
  // BIRD prints nothing when it starts well: wait for its control socket.
  for (let i = 0; i < 100; i++) {
    if ((await t.exec(net.router, ["birdc", "-s", birdSocket, "show", "status"])).code === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  void bird;
  return { ...net, taps, birdSocket, birdConfig: conf, birdLog, runDirs: [] };
}

/** Rewrites the router's BIRD configuration and applies it (`birdc configure`). */
export async function reconfigureRouter(net: BgpNet, text: string): Promise<void> {
  Deno.writeTextFileSync(net.birdConfig, text);
  await net.t.execOk(net.router, ["birdc", "-s", net.birdSocket, "configure"]);
}

/** Removes the instances' BIRD run directories. */
export function cleanupBgp(net: BgpNet): void {
  for (const d of net.runDirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* not made */ }
  }
}

/** A started instance. */
export interface BgpInstance {
  i: number;
  ip: string;
  control: string;
  proc: Proc;
}

/**
 * Starts instance `i` (1..3): by default an mh DR service over the three real servers (or the
 * `service` flags), announced to the router with BFD; `before` goes before `--service` (global
 * flags such as health checks).
 * Resolves when it is up (not yet when BGP is).
 */
export async function startBgpInstance(
  net: BgpNet,
  i: number,
  before: string[] = [],
  bfd = true,
  perms: string[] = [],
  service: string[] = [
    "--service",
    `tcp:${VIP}:80`,
    "--scheduler",
    "mh",
    "--method",
    "dr",
    ...REALS,
  ],
): Promise<BgpInstance> {
  const ip = INSTANCE_IPS[i];
  const control = net.t.tempPath(`bgp${i}.sock`);
  net.runDirs.push(`${control}.bgp`);
  const proc = net.t.lb(net.hub, [
    "run",
    "--tap",
    net.taps[i],
    "--ip",
    `${ip}/24`,
    "--gateway",
    ROUTER,
    "--control",
    control,
    "--bgp",
    `${ROUTER},as=65000,local-as=65001${bfd ? ",bfd" : ""}`,
    ...before,
    ...service,
  ], ["--allow-run=setpriv,ip,birdc", `--allow-write=${control}.bgp`, ...perms]);
  await proc.waitFor("up on", 30_000);
  return { i, ip, control, proc };
}

/** The router's next hops for the VIP (empty when it has no route). */
export async function nextHops(net: BgpNet): Promise<string[]> {
  const r = await net.t.exec(net.router, ["ip", "-j", "route", "show", `${VIP}/32`]);
  if (r.code !== 0 || r.stdout.trim() === "") return [];
  const routes = JSON.parse(r.stdout) as { gateway?: string; nexthops?: { gateway: string }[] }[];
  const out: string[] = [];
  for (const rt of routes) {
    if (rt.gateway !== undefined) out.push(rt.gateway);
    for (const nh of rt.nexthops ?? []) out.push(nh.gateway);
  }
  return out.sort();
}

/** Polls until the router's next hops for the VIP are `want` (sorted), bounded by `timeoutMs`. */
export async function waitNextHops(
  net: BgpNet,
  want: string[],
  timeoutMs = 30_000,
): Promise<number> {
  const start = performance.now();
  const w = [...want].sort().join(",");
  let last: string[] = [];
  while (performance.now() - start < timeoutMs) {
    last = await nextHops(net);
    if (last.join(",") === w) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`router next hops for ${VIP}: ${last.join(",") || "none"}, wanted ${w}`);
}

/** `lb.ts list --json` of an instance (with its `bgp` part). */
export async function listJson(net: BgpNet, inst: BgpInstance): Promise<
  {
    services: { conns: number }[];
    bgp: {
      birdPid: number;
      sessions: { state: string; info: string }[];
      vips: { prefix: string; announced: boolean }[];
    };
  }
> {
  const r = await net.t.lbRun(["list", "--json", "--control", inst.control]);
  if (r.code !== 0) throw new Error(`lb.ts list: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** True while PID runs (a zombie, dead but not yet reaped by its new parent, is not running). */
export function processAlive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
