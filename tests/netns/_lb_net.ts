/**
 * The balancer's test network (used by tests/netns/lb_*_test.ts and scripts/demo.ts):
 *
 *   client 10.78.0.10 ── br2 ── router ── br1 ──┬── lb.ts run on a TAP: 10.77.0.2, VIP 10.77.0.100
 *   (namespace "cl")    10.78.0.254   10.77.0.254 ├── real server r1 10.77.0.11
 *                                                ├── real server r2 10.77.0.12
 *                                                └── ...
 *
 * The client reaches the VIP through a kernel router, so NAT works (real servers route replies
 * to the client's subnet through the balancer) and DR replies visibly bypass the balancer (real
 * servers route them to the router). Real servers are set up the way IPVS requires:
 * - DR: the VIP on `lo`, `arp_ignore=1`, `arp_announce=2`, default route via the router;
 * - NAT: default route via the balancer;
 * - TUN: userspace hosts of this project (`lb.ts stack --vip VIP`), added by the TUN test (this
 *   kernel has no ipip module).
 * Each kernel real server runs Debian's `python3 -m http.server` over a directory whose
 * index.html names the server ("r1"), and optionally a big file for long downloads.
 *
 * @module
 */

import { type Proc, run, runOk, type Topology } from "./topology.ts";
import type { Program } from "../programs.ts";

/** Debian's python3 (not a pyenv shim). */
export const PY = "/usr/bin/python3";
/** The virtual address of every test service. */
export const VIP = "10.77.0.100";
/** The balancer's own address. */
export const LB_IP = "10.77.0.2";
/** The balancer's MAC (fixed, so a restarted balancer keeps its neighbours' ARP entries). */
export const LB_MAC = "02:00:5e:77:00:02";
/** The router's address on the balancer's link (the balancer's gateway). */
export const ROUTER = "10.77.0.254";
/** The client. */
export const CLIENT_IP = "10.78.0.10";

/** A kernel real server. */
export interface RealHost {
  /** Its name, e.g. "r1": what its index.html says. */
  name: string;
  ns: string;
  ip: string;
  mac: string;
  /** The directory its HTTP server serves. */
  dir: string;
}

/** The network of one test. */
export interface LbNet {
  t: Topology;
  /** Namespace holding the bridges and TAPs. */
  hub: string;
  /** Bridge of the balancer's link. */
  br1: string;
  router: string;
  client: string;
  /** The balancer's TAP. */
  tap: string;
  reals: RealHost[];
  control: string;
  pcap: string;
}

/** How real servers are set up. */
export type RealMode = "dr" | "nat" | "none";

const dirs = new Set<string>();
// Served directories hold files, which the topology's tempPath cleanup does not remove.
globalThis.addEventListener("unload", () => removeDirs());

/** Removes every served directory made so far. */
export function removeDirs(): void {
  for (const d of dirs) {
    try {
      Deno.removeSync(d, { recursive: true });
    } catch { /* already gone */ }
  }
  dirs.clear();
}

/** The namespaces and bridges every balancer network here has (see the module comment). */
export interface RoutedLinks {
  hub: string;
  router: string;
  client: string;
  /** The balancer's link (10.77.0.0/24). */
  br1: string;
  /** The client's link (10.78.0.0/24). */
  br2: string;
}

/**
 * Builds the hub with both bridges, the kernel router between them and the client namespace
 * holding `clientIps` (the first is its primary address), routed through the router. The
 * balancer and the real servers are attached to `br1` by the caller.
 */
export async function buildRoutedLinks(t: Topology, clientIps: string[]): Promise<RoutedLinks> {
  const hub = await t.netns("hub");
  const router = await t.netns("rt");
  const client = await t.netns("cl");
  const br1 = await t.bridge(hub, "bra");
  const br2 = await t.bridge(hub, "brb");
  await t.attach(router, hub, br1, "eth0", `${ROUTER}/24`);
  await t.attach(router, hub, br2, "eth1", "10.78.0.254/24");
  await t.execOk(router, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await t.attach(client, hub, br2, "eth0", `${clientIps[0]}/24`);
  for (const a of clientIps.slice(1)) {
    await t.execOk(client, ["ip", "addr", "add", `${a}/24`, "dev", "eth0"]);
  }
  await t.execOk(client, ["ip", "route", "add", "default", "via", "10.78.0.254"]);
  return { hub, router, client, br1, br2 };
}

/**
 * Makes namespace `ns` a real server the way IPVS-DR requires: the VIP on `lo`, arp_ignore=1,
 * arp_announce=2 (plus `sysctls`, "key=value" each), default route via the router.
 */
export async function makeDrReal(t: Topology, ns: string, sysctls: string[] = []): Promise<void> {
  await t.execOk(ns, ["ip", "addr", "add", `${VIP}/32`, "dev", "lo"]);
  await t.execOk(ns, [
    "sysctl",
    "-qw",
    "net.ipv4.conf.all.arp_ignore=1",
    "net.ipv4.conf.all.arp_announce=2",
    ...sysctls,
  ]);
  await t.execOk(ns, ["ip", "route", "add", "default", "via", ROUTER]);
}

/** Builds the network with `reals` kernel real servers set up for `mode`. */
export async function buildLbNet(
  t: Topology,
  reals: number,
  mode: RealMode,
  extraClientIps: string[] = [],
): Promise<LbNet> {
  const { hub, router, client, br1 } = await buildRoutedLinks(t, [CLIENT_IP, ...extraClientIps]);
  const hosts: RealHost[] = [];
  for (let i = 1; i <= reals; i++) {
    const ns = await t.netns(`r${i}`);
    const ip = `10.77.0.${10 + i}`;
    const mac = await t.attach(ns, hub, br1, "eth0", `${ip}/24`);
    if (mode === "dr") {
      await makeDrReal(t, ns);
    } else if (mode === "nat") {
      await t.execOk(ns, ["ip", "route", "add", "default", "via", LB_IP]);
    }
    const dir = t.tempPath(`www${i}`);
    Deno.mkdirSync(dir, { recursive: true });
    dirs.add(dir);
    Deno.writeTextFileSync(`${dir}/index.html`, `r${i}\n`);
    hosts.push({ name: `r${i}`, ns, ip, mac, dir });
  }
  const tap = await t.tap(hub, br1);
  return {
    t,
    hub,
    br1,
    router,
    client,
    tap,
    reals: hosts,
    control: t.tempPath("lb.sock"),
    pcap: t.tempPath("lb.pcap"),
  };
}

/** Writes a file of `bytes` pseudo-random bytes named `name` into every real server's directory. */
export function writeBigFile(net: LbNet, name: string, bytes: number): void {
  const chunk = new Uint8Array(1 << 16);
  for (const r of net.reals) {
    crypto.getRandomValues(chunk); // a different file on every server
    const f = Deno.openSync(`${r.dir}/${name}`, { write: true, create: true, truncate: true });
    try {
      for (let done = 0; done < bytes; done += chunk.length) {
        f.writeSync(chunk.subarray(0, Math.min(chunk.length, bytes - done)));
      }
    } finally {
      f.close();
    }
  }
}

/** Starts `python3 -m http.server PORT` on every real server; resolves when all listen. */
export async function startHttpServers(net: LbNet, port = 80): Promise<Proc[]> {
  const procs = net.reals.map((r) =>
    net.t.spawn(r.ns, [
      PY,
      "-u",
      "-m",
      "http.server",
      String(port),
      "--bind",
      "0.0.0.0",
      "--directory",
      r.dir,
    ])
  );
  await Promise.all(procs.map((p) => p.waitFor("Serving HTTP", 15_000)));
  return procs;
}

/** A UDP responder answering each datagram with "NAME DATA" (a DNS-like request/answer). */
const UDP_RESPONDER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
print("listening", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(sys.argv[3].encode() + b" " + data, peer)
`;

/**
 * Starts a UDP responder on every real server, bound to `bind` (DR: the VIP, so replies carry
 * it as their source, as a DR real server's UDP service must; NAT: "0.0.0.0").
 */
export async function startUdpResponders(net: LbNet, bind: string, port: number): Promise<void> {
  const procs = net.reals.map((r) =>
    net.t.spawn(r.ns, [PY, "-u", "-c", UDP_RESPONDER, bind, String(port), r.name])
  );
  await Promise.all(procs.map((p) => p.waitFor("listening", 15_000)));
}

/**
 * A UDP client: `count` requests from fresh sockets (so fresh source ports: each one a new
 * flow), each waiting for its answer; prints one JSON list of the answers' first words (null for
 * a timeout, "!src" for an answer from another address than the one asked).
 */
const UDP_CLIENT = `
import json, socket, sys
host, port, count, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
out = []
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.bind(("0.0.0.0", first + i))
    s.sendto(b"q%d" % i, (host, port))
    try:
        data, peer = s.recvfrom(2048)
        out.append(data.split()[0].decode() if peer[0] == host else "!src")
    except socket.timeout:
        out.append(None)
    s.close()
print(json.dumps(out))
`;

/**
 * Source ports of the UDP client: each query comes from a port no earlier query of this run used.
 * Left to the kernel, a closed socket's ephemeral port can come back for a later query, which
 * the balancer rightly treats as the same (UDP) flow and sends to the same server, breaking an
 * exact rr count.
 */
let nextUdpSourcePort = 40000;

/** Runs the UDP client in the client namespace; returns the answers in order. */
export async function udpRequests(
  net: LbNet,
  port: number,
  count: number,
): Promise<(string | null)[]> {
  const first = nextUdpSourcePort;
  nextUdpSourcePort += count;
  const out = await net.t.execOk(net.client, [
    PY,
    "-c",
    UDP_CLIENT,
    VIP,
    String(port),
    String(count),
    String(first),
  ], 60_000);
  return JSON.parse(out);
}

/**
 * A TCP client that connects from fixed source ports (one connection each, in order), sends
 * `GET /` and returns the body's first word per port, as JSON {port: name|null}.
 */
const PORT_CLIENT = `
import json, socket, sys
host, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = {}
for p in range(first, first + count):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.settimeout(5)
    try:
        s.bind(("0.0.0.0", p))
        s.connect((host, 80))
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: vip\\r\\n\\r\\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        out[p] = data.split(b"\\r\\n\\r\\n", 1)[1].split()[0].decode()
    except Exception as e:
        out[p] = None
    s.close()
print(json.dumps(out))
`;

/** Connections from source ports first..first+count-1; the server name per port. */
export async function requestsFromPorts(
  net: LbNet,
  first: number,
  count: number,
): Promise<Record<string, string | null>> {
  const out = await net.t.execOk(
    net.client,
    [PY, "-c", PORT_CLIENT, VIP, String(first), String(count)],
    120_000,
  );
  return JSON.parse(out);
}

/**
 * `count` HTTP requests with curl from the client, each on a new connection (`Connection:
 * close`; http.server answers HTTP/1.0 and closes anyway), in order; returns each body's first
 * word (the real server's name). `source` picks one of the client's addresses.
 */
export async function curlRequests(net: LbNet, count: number, source?: string): Promise<string[]> {
  const args: [Program, ...string[]] = [
    "curl",
    "-sS",
    "--max-time",
    "60",
    "-H",
    "Connection: close",
  ];
  if (source !== undefined) args.push("--interface", source);
  args.push(`http://${VIP}/?[1-${count}]`);
  const r = await net.t.exec(net.client, args, 90_000);
  if (r.code !== 0) throw new Error(`curl exited ${r.code}: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** How many times each value occurs. */
export function tally(values: readonly (string | null)[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[String(v)] = (out[String(v)] ?? 0) + 1;
  return out;
}

/**
 * Starts `lb.ts run` on the net's TAP (its address, gateway, MAC and control socket) with `args`
 * and the extra Deno permissions `perms`; resolves when it is up.
 */
export async function startLb(
  net: LbNet,
  args: string[],
  perms: string[] = [],
): Promise<Proc> {
  const p = net.t.lb(net.hub, [
    "run",
    "--tap",
    net.tap,
    "--ip",
    `${LB_IP}/24`,
    "--gateway",
    ROUTER,
    "--mac",
    LB_MAC,
    "--control",
    net.control,
    ...args,
  ], perms);
  await p.waitFor("up on", 30_000);
  return p;
}

/** Starts `lb.ts run` on the net's TAP with `args` (services and options), pcap recording on. */
export function startBalancer(net: LbNet, args: string[]): Promise<Proc> {
  return startLb(net, ["--pcap", net.pcap, ...args], [`--allow-write=${net.pcap}`]);
}

/** Starts `lb.ts run --config FILE` on the net's TAP (read permission for that file only). */
export function startBalancerFromConfig(net: LbNet, file: string): Promise<Proc> {
  return startLb(net, ["--config", file], [`--allow-read=${file}`]);
}

/** `lb.ts CMD --json --control ...` parsed. */
export async function lbJson<T = Record<string, unknown>>(net: LbNet, cmd: string[]): Promise<T> {
  const r = await net.t.lbRun([...cmd, "--json", "--control", net.control]);
  if (r.code !== 0) throw new Error(`lb.ts ${cmd.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** `lb.ts CMD --control ...` text output. */
export async function lbText(net: LbNet, cmd: string[]): Promise<string> {
  const r = await net.t.lbRun([...cmd, "--control", net.control]);
  if (r.code !== 0) throw new Error(`lb.ts ${cmd.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** The stack's counters of a running instance (`lb.ts stats --json`). */
export function counters(net: LbNet, control = net.control): Promise<Record<string, number>> {
  return net.t.counters(control);
}

/** One TCP segment of a capture, as tcpdump -nn -e -S prints it. */
export interface Segment {
  srcMac: string;
  dstMac: string;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  flags: string;
  seq: string;
  ack: string;
  len: number;
}

const SEGMENT =
  /^\S+ (\S+) > (\S+), ethertype IPv4 \(0x0800\), length \d+: (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): Flags \[([^\]]*)\](?:, seq ([0-9:]+))?(?:, ack (\d+))?.*, length (\d+)/;

/** The TCP segments of a pcap file, read with tcpdump (absolute sequence numbers). */
export async function tcpSegments(pcap: string): Promise<Segment[]> {
  const out = await runOk(["tcpdump", "-r", pcap, "-nn", "-e", "-S", "-tt", "tcp"], 60_000);
  const segs: Segment[] = [];
  for (const line of out.split("\n")) {
    if (line === "") continue;
    const m = SEGMENT.exec(line);
    if (m === null) throw new Error(`unparsed tcpdump line: ${line}`);
    segs.push({
      srcMac: m[1],
      dstMac: m[2],
      src: m[3],
      sport: Number(m[4]),
      dst: m[5],
      dport: Number(m[6]),
      flags: m[7],
      seq: m[8] ?? "",
      ack: m[9] ?? "",
      len: Number(m[10]),
    });
  }
  return segs;
}

/** `tcpdump -r PCAP -nn FILTER` lines. */
export async function tcpdumpLines(pcap: string, filter: string[]): Promise<string[]> {
  const r = await run(["tcpdump", "-r", pcap, "-nn", "-e", ...filter], 60_000);
  if (r.code !== 0) throw new Error(`tcpdump exited ${r.code}: ${r.stderr}`);
  return r.stdout.split("\n").filter((l) => l !== "");
}

/** sha256 of a file, hex. */
export async function sha256File(path: string): Promise<string> {
  return (await runOk(["sha256sum", path])).split(" ")[0];
}
