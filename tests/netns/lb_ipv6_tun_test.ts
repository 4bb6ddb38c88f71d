/**
 * An IPv6 service in tunnel mode (IPv6-in-IPv6, RFC 2473). The real servers are userspace hosts
 * of this project (`lb.ts stack --vip VIP6 --serve echo:7`: the VIP held without Neighbor
 * Discovery, IPv6-in-IPv6 decapsulated), answering RFC 862 echo over UDP and HTTP over TCP/IPv6
 * straight to the kernel client behind the router (tests/netns/_lb6_net.ts).
 */
import { assert, assertEquals } from "../assert.ts";
import { netnsTest, type Proc } from "./topology.ts";
import { counters, lbJson, type LbNet, PY, ROUTER, startBalancer } from "./_lb_net.ts";
import { buildLb6Net, LB6_FLAGS, requests6, ROUTER6, VIP6 } from "./_lb6_net.ts";
import { bytesSha256 } from "../../stack/services/http.ts";

interface TunReal {
  ip6: string;
  control: string;
  proc: Proc;
}

/** Starts `n` userspace real servers (2001:db8:77::21, ::22, ...) on their own TAPs on br1. */
async function startTunReals(net: LbNet, n: number): Promise<TunReal[]> {
  const reals: TunReal[] = [];
  for (let i = 1; i <= n; i++) {
    const tap = await net.t.tap(net.hub, net.br1, `tr${i}`);
    const ip6 = `2001:db8:77::${20 + i}`;
    const control = net.t.tempPath(`r${i}.sock`);
    const proc = net.t.lb(net.hub, [
      "stack",
      "--tap",
      tap,
      "--ip",
      `10.77.0.${20 + i}/24`,
      "--ip",
      `${ip6}/64`,
      "--nodad",
      "--gateway",
      ROUTER,
      "--gateway",
      ROUTER6,
      "--mac",
      `02:00:5e:77:00:${20 + i}`,
      "--vip",
      VIP6,
      "--serve",
      "echo:7",
      "--serve",
      "http:80",
      "--control",
      control,
    ]);
    reals.push({ ip6, control, proc });
  }
  await Promise.all(reals.map((r) => r.proc.waitFor("up on", 30_000)));
  return reals;
}

/**
 * Echo client over IPv6: `count` datagrams of `size` bytes, each from a fresh socket on ports
 * `first`.. (new flows), each sent up to `tries` times until its echo comes (a Packet Too Big in
 * between teaches the kernel the path MTU); prints JSON {ok, wrongSource, timeouts, retried}.
 */
const ECHO6 = `
import json, socket, sys
host, count, size, first, tries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
res = {"ok": 0, "wrongSource": 0, "timeouts": 0, "retried": 0}
for i in range(count):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.bind(("::", first + i))
    msg = ((b"%06d" % i) * (size // 6 + 1))[:size]
    for t in range(tries):
        s.sendto(msg, (host, 7))
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            if t == tries - 1:
                res["timeouts"] += 1
            else:
                res["retried"] += 1
            continue
        if peer[0] != host or peer[1] != 7:
            res["wrongSource"] += 1
        elif data == msg:
            res["ok"] += 1
        break
    s.close()
print(json.dumps(res))
`;

let nextPort = 46000;

async function echo6(net: LbNet, count: number, size: number, tries = 1) {
  const first = nextPort;
  nextPort += count;
  const out = await net.t.execOk(
    net.client,
    [PY, "-c", ECHO6, VIP6, String(count), String(size), String(first), String(tries)],
    60_000,
  );
  return JSON.parse(out) as Record<string, number>;
}

netnsTest(
  "ipv6 tun rr: UDP echo through IPv6-in-IPv6 to userspace real servers; Packet Too Big for a packet that cannot be encapsulated",
  async (t) => {
    const net = await buildLb6Net(t, 0, "nat");
    const reals = await startTunReals(net, 3);
    await startBalancer(net, [
      ...LB6_FLAGS,
      "--service",
      `udp:[${VIP6}]:7`,
      "--scheduler",
      "rr",
      "--method",
      "tun",
      ...reals.flatMap((r) => ["--real", `[${r.ip6}]`]),
    ]);
    // 30 new flows: 10 to each real server, each echo straight from the VIP.
    // A timeout of 3 s: the first echo of the run may wait about a second while the network's
    // neighbors settle (seen on the kernel side right after start-up), and is not lost.
    assertEquals(await echo6(net, 30, 100), { ok: 30, wrongSource: 0, timeouts: 0, retried: 0 });
    const snap = await lbJson<{ services: { reals: { address: string; packetsIn: number }[] }[] }>(
      net,
      ["list"],
    );
    assertEquals(
      snap.services[0].reals.map((r) => [r.address, r.packetsIn]),
      reals.map((r) => [r.ip6, 10]),
    );
    for (const r of reals) {
      const c = await counters(net, r.control);
      assertEquals(c["ip6tnl.rx_decapsulated"], 10, r.ip6);
    }
    // 1,440 bytes of UDP: a 1,488-byte packet, 1,528 in the tunnel, over the 1,500-byte MTU. The
    // balancer drops it and sends Packet Too Big (MTU 1,460); the kernel fragments the retry,
    // which the balancer reassembles and tunnels in fragments of the outer packet.
    const big = await echo6(net, 3, 1440, 3);
    assertEquals(big.ok, 3, JSON.stringify(big));
    assert(big.retried >= 1, `a first datagram was refused: ${JSON.stringify(big)}`);
    const c = await counters(net);
    assert((c["lb.tun_frag_needed"] ?? 0) >= 1, JSON.stringify(c));
    assertEquals(c["lb.drop_tx_failed"] ?? 0, 0);
  },
  120_000,
);

netnsTest(
  "ipv6 tun rr: HTTP over TCP/IPv6 through the tunnel: the userspace real servers answer from the VIP",
  async (t) => {
    const net = await buildLb6Net(t, 0, "nat");
    const reals = await startTunReals(net, 3);
    await startBalancer(net, [
      ...LB6_FLAGS,
      "--service",
      `tcp:[${VIP6}]:80`,
      "--scheduler",
      "rr",
      "--method",
      "tun",
      ...reals.flatMap((r) => ["--real", `[${r.ip6}]`]),
    ]);
    // 30 connections, all answered; 10 scheduled to each real server (rr).
    const answers = await requests6(net, 30);
    assert(answers.every((n) => n !== null), JSON.stringify(answers));
    const snap = await lbJson<{ services: { reals: { address: string; conns: number }[] }[] }>(
      net,
      ["list"],
    );
    assertEquals(
      snap.services[0].reals.map((r) => [r.address, r.conns]),
      reals.map((r) => [r.ip6, 10]),
    );
    // A 10 MB answer comes straight from a real server, whole.
    const got = await net.t.execOk(net.client, [
      "sh",
      "-c",
      `curl -6 -gsS --max-time 60 http://[${VIP6}]/bytes/10485760 | sha256sum`,
    ], 90_000);
    assertEquals(got.split(" ")[0], bytesSha256(10_485_760));
    let decapsulated = 0;
    for (const r of reals) {
      decapsulated += (await counters(net, r.control))["ip6tnl.rx_decapsulated"];
    }
    assert(decapsulated > 30 * 3, `the client's segments came through the tunnel: ${decapsulated}`);
  },
  120_000,
);
