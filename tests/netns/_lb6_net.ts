/**
 * The balancer's test network with IPv6 beside IPv4 (used by tests/netns/lb_ipv6_test.ts): the
 * network of _lb_net.ts, every link also on an IPv6 /64 (addresses `nodad`, DAD off):
 *
 *   client 2001:db8:78::10 ── br2 ── router ── br1 ──┬── lb.ts run: 2001:db8:77::2, VIP6 ::100
 *                         2001:db8:78::fe  2001:db8:77::fe ├── r1 2001:db8:77::11
 *                                                     └── ...
 *
 * Real servers as IPVS needs them for IPv6: DR with the VIP on `lo` (Linux answers Neighbor
 * Discovery only for addresses of the interface asked, so no sysctl is needed) and a default
 * route via the router; NAT with a default route via the balancer.
 *
 * @module
 */

import { runOk, type Topology } from "./topology.ts";
import {
  buildRoutedLinks,
  CLIENT_IP,
  LB_IP,
  type LbNet,
  makeDrReal,
  PY,
  type RealHost,
} from "./_lb_net.ts";

/** The IPv6 virtual address of the test services. */
export const VIP6 = "2001:db8:77::100";
/** The balancer's IPv6 address. */
export const LB_IP6 = "2001:db8:77::2";
/** The router on the balancer's link. */
export const ROUTER6 = "2001:db8:77::fe";
/** The client. */
export const CLIENT_IP6 = "2001:db8:78::10";

/** Turns DAD off for the interfaces namespace `ns` makes from now on (RFC 4862 5.4 `nodad`). */
async function noDad(t: Topology, ns: string): Promise<void> {
  await t.execOk(ns, [
    "sysctl",
    "-qw",
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
  ]);
}

async function addr6(t: Topology, ns: string, cidr: string, dev = "eth0"): Promise<void> {
  await t.execOk(ns, ["ip", "-6", "addr", "add", cidr, "dev", dev, "nodad"]);
}

/**
 * Builds the dual-stack network with `reals` kernel real servers set up for `mode` in both
 * families (IPv4 as _lb_net.ts does it, IPv6 as the module comment says).
 */
export async function buildLb6Net(t: Topology, reals: number, mode: "dr" | "nat"): Promise<LbNet> {
  const { hub, router, client, br1 } = await buildRoutedLinks(t, [CLIENT_IP]);
  for (const ns of [hub, router, client]) await noDad(t, ns);
  await addr6(t, router, `${ROUTER6}/64`, "eth0");
  await addr6(t, router, "2001:db8:78::fe/64", "eth1");
  await t.execOk(router, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  await addr6(t, client, `${CLIENT_IP6}/64`);
  await t.execOk(client, ["ip", "-6", "route", "add", "default", "via", "2001:db8:78::fe"]);
  const hosts: RealHost[] = [];
  for (let i = 1; i <= reals; i++) {
    const ns = await t.netns(`r${i}`);
    await noDad(t, ns);
    const ip = `10.77.0.${10 + i}`;
    const mac = await t.attach(ns, hub, br1, "eth0", `${ip}/24`);
    await addr6(t, ns, `2001:db8:77::${10 + i}/64`);
    if (mode === "dr") {
      await makeDrReal(t, ns);
      await t.execOk(ns, ["ip", "-6", "addr", "add", `${VIP6}/128`, "dev", "lo"]);
      await t.execOk(ns, ["ip", "-6", "route", "add", "default", "via", ROUTER6]);
    } else {
      await t.execOk(ns, ["ip", "route", "add", "default", "via", LB_IP]);
      await t.execOk(ns, ["ip", "-6", "route", "add", "default", "via", LB_IP6]);
    }
    const dir = t.tempPath(`www${i}`);
    Deno.mkdirSync(dir, { recursive: true });
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

/** The IPv6 host flags of `lb.ts run` on this network (beside _lb_net.ts's IPv4 ones). */
export const LB6_FLAGS = ["--ip", `${LB_IP6}/64`, "--gateway", ROUTER6, "--nodad"];

/**
 * Starts `python3 -m http.server PORT --bind ::` (both families) on every real server; resolves
 * when all listen.
 */
export async function startHttpServers6(net: LbNet, port: number): Promise<void> {
  const procs = net.reals.map((r) =>
    net.t.spawn(r.ns, [
      PY,
      "-u",
      "-m",
      "http.server",
      String(port),
      "--bind",
      "::",
      "--directory",
      r.dir,
    ])
  );
  await Promise.all(procs.map((p) => p.waitFor("Serving HTTP", 15_000)));
}

/**
 * A TCP client over IPv6: `count` connections to [host]:port one after the other, each sending
 * `GET /` and printing the body's first word (the real server's name), one JSON list.
 */
const CLIENT6 = `
import json, socket, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = []
for i in range(count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect((host, port))
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: vip\\r\\n\\r\\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        out.append(data.split(b"\\r\\n\\r\\n", 1)[1].split()[0].decode())
    except Exception as e:
        out.append(None)
    s.close()
print(json.dumps(out))
`;

/** `count` HTTP requests over IPv6 from the client to [VIP6]:port; the server name of each. */
export async function requests6(
  net: LbNet,
  count: number,
  port = 80,
): Promise<(string | null)[]> {
  const out = await net.t.execOk(
    net.client,
    [PY, "-c", CLIENT6, VIP6, String(port), String(count)],
    120_000,
  );
  return JSON.parse(out);
}

/** One TCP segment of a capture over IPv6, as tcpdump -nn -e -S prints it. */
export interface Segment6 {
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

const SEGMENT6 =
  /^\S+ (\S+) > (\S+), ethertype IPv6 \(0x86dd\), length \d+: ([0-9a-f:]+)\.(\d+) > ([0-9a-f:]+)\.(\d+): Flags \[([^\]]*)\](?:, seq ([0-9:]+))?(?:, ack (\d+))?.*, length (\d+)/;

/** The TCP segments over IPv6 of a pcap file, read with tcpdump (absolute sequence numbers). */
export async function tcpSegments6(pcap: string): Promise<Segment6[]> {
  const out = await runOk(["tcpdump", "-r", pcap, "-nn", "-e", "-S", "-tt", "ip6 and tcp"], 60_000);
  const segs: Segment6[] = [];
  for (const line of out.split("\n")) {
    if (line === "") continue;
    const m = SEGMENT6.exec(line);
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

/** Removes the real servers' served directories (files: the topology's cleanup leaves them). */
export function removeDirs6(net: LbNet | null): void {
  for (const r of net?.reals ?? []) {
    try {
      Deno.removeSync(r.dir, { recursive: true });
    } catch { /* already gone */ }
  }
}
