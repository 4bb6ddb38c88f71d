/**
 * The balancer in tunnel mode. This kernel has no ipip module, so the real servers are userspace
 * hosts of this project: `lb.ts stack --vip VIP --serve echo:7` holds the VIP without ARP and
 * decapsulates IP-in-IP, as a Linux real server does with the VIP on tunl0. The client is a
 * kernel namespace behind a router (tests/netns/_lb_net.ts), talking RFC 862 echo over UDP and
 * over the stack's TCP.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest, type Proc } from "./topology.ts";
import {
  buildLbNet,
  counters,
  LB_MAC,
  lbJson,
  type LbNet,
  PY,
  removeDirs,
  ROUTER,
  startBalancer,
  tcpdumpLines,
  VIP,
} from "./_lb_net.ts";

interface TunReal {
  ip: string;
  control: string;
  proc: Proc;
}

/** Starts `n` userspace TUN real servers (10.77.0.21, .22, ...) on their own TAPs on br1. */
async function startTunReals(net: LbNet, n: number): Promise<TunReal[]> {
  const reals: TunReal[] = [];
  for (let i = 1; i <= n; i++) {
    const tap = await net.t.tap(net.hub, net.br1, `tr${i}`);
    const ip = `10.77.0.${20 + i}`;
    const control = net.t.tempPath(`r${i}.sock`);
    const proc = net.t.lb(net.hub, [
      "stack",
      "--tap",
      tap,
      "--ip",
      `${ip}/24`,
      "--gateway",
      ROUTER,
      "--mac",
      `02:00:5e:77:00:${20 + i}`,
      "--vip",
      VIP,
      "--serve",
      "echo:7",
      "--control",
      control,
    ]);
    reals.push({ ip, control, proc });
  }
  await Promise.all(reals.map((r) => r.proc.waitFor("up on", 30_000)));
  return reals;
}

/**
 * Echo client: `count` datagrams of `size` bytes from fresh sockets on ports `first`.. (new
 * flows), DF set or not;
 * prints JSON {ok, wrongSource, timeouts, emsgsize}.
 */
const ECHO_CLIENT = `
import json, socket, sys
host, count, size, df = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "df"
first = int(sys.argv[5])
res = {"ok": 0, "wrongSource": 0, "timeouts": 0, "emsgsize": 0, "bad": 0}
for i in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # IP_MTU_DISCOVER = 10: IP_PMTUDISC_DO = 2 (DF set), IP_PMTUDISC_DONT = 0 (<linux/in.h>)
    s.setsockopt(socket.IPPROTO_IP, 10, 2 if df else 0)
    s.settimeout(2)
    s.bind(("0.0.0.0", first + i))
    msg = (b"%06d" % i) * (size // 6 + 1)
    msg = msg[:size]
    try:
        s.sendto(msg, (host, 7))
        data, peer = s.recvfrom(65535)
        if peer != (host, 7):
            res["wrongSource"] += 1
        elif data == msg:
            res["ok"] += 1
        else:
            res["bad"] += 1
    except socket.timeout:
        res["timeouts"] += 1
    except OSError as e:
        if e.errno == 90:
            res["emsgsize"] += 1
        else:
            raise
    s.close()
print(json.dumps(res))
`;

/**
 * Source ports of the echo client, unique in the run: a closed socket's ephemeral port could come
 * back for a later datagram, which the balancer rightly treats as the same UDP flow (same real
 * server), breaking an exact rr count.
 */
let nextSourcePort = 45000;

async function echo(net: LbNet, count: number, size: number, df: boolean) {
  const first = nextSourcePort;
  nextSourcePort += count;
  const out = await net.t.execOk(
    net.client,
    [PY, "-c", ECHO_CLIENT, VIP, String(count), String(size), df ? "df" : "nodf", String(first)],
    60_000,
  );
  return JSON.parse(out) as Record<string, number>;
}

/** A port-7 service of `proto` tunnelled (rr) to the three userspace real servers. */
const tunService = (proto: "tcp" | "udp") => [
  "--service",
  `${proto}:10.77.0.100:7`,
  "--scheduler",
  "rr",
  "--method",
  "tun",
  "--real",
  "10.77.0.21",
  "--real",
  "10.77.0.22",
  "--real",
  "10.77.0.23",
];

netnsTest(
  "tun rr: UDP echo through IP-in-IP to userspace real servers, answered from the VIP",
  async (t) => {
    try {
      const net = await buildLbNet(t, 0, "none");
      const reals = await startTunReals(net, 3);
      await startBalancer(net, tunService("udp"));
      assertEquals(await echo(net, 60, 100, false), {
        ok: 60,
        wrongSource: 0,
        timeouts: 0,
        emsgsize: 0,
        bad: 0,
      });
      const snap = await lbJson<{ services: { reals: { packetsIn: number; method: string }[] }[] }>(
        net,
        ["list"],
      );
      assertEquals(snap.services[0].reals.map((r) => [r.method, r.packetsIn]), [
        ["tun", 20],
        ["tun", 20],
        ["tun", 20],
      ]);
      for (const r of reals) {
        const c = await counters(net, r.control);
        assertEquals(c["ipip.rx_decapsulated"], 20, `${r.ip}: ${JSON.stringify(c)}`);
        // The real server never answered ARP for the VIP (the balancer did).
        assertEquals(c["arp.conflict"] ?? 0, 0);
      }
      const neigh = await t.execOk(net.router, ["ip", "neigh", "show", VIP]);
      assertMatch(neigh, new RegExp(LB_MAC, "i"), "the VIP resolves to the balancer only");
    } finally {
      removeDirs();
    }
  },
);

netnsTest(
  "tun: too big with DF gets ICMP fragmentation needed (mtu 1480); without DF it is fragmented and answered",
  async (t) => {
    try {
      const net = await buildLbNet(t, 0, "none");
      await startTunReals(net, 2);
      const lb = await startBalancer(net, tunService("udp").slice(0, -2));
      // Without DF: the client fragments 3000 bytes, the balancer reassembles and tunnels it in
      // fragments, the real server reassembles the outer datagram and answers.
      assertEquals((await echo(net, 4, 3000, false)).ok, 4);
      // With DF: 1453 bytes of UDP data make a 1481-byte datagram, 1501 once tunnelled. The first
      // send is dropped with ICMP fragmentation needed; the client kernel then knows the path MTU
      // and refuses the next ones itself (EMSGSIZE).
      const df = await echo(net, 3, 1453, true);
      assertEquals([df.ok, df.timeouts, df.emsgsize], [0, 1, 2], JSON.stringify(df));
      // 1452 bytes fit exactly (1480 + 20 = 1500): echoed.
      assertEquals((await echo(net, 2, 1452, true)).ok, 2);
      const route = await t.execOk(net.client, ["ip", "route", "get", VIP]);
      assertMatch(route, /mtu 1480/);
      const c = await counters(net);
      assertEquals(c["lb.tun_frag_needed"], 1);
      await lb.stop();
      const icmp = await tcpdumpLines(net.pcap, ["icmp"]);
      assertEquals(icmp.length, 1, icmp.join("\n"));
      assertMatch(
        icmp[0],
        /10\.77\.0\.100 > 10\.78\.0\.10: ICMP 10\.77\.0\.100 unreachable - need to frag \(mtu 1480\)/,
      );
      assert(icmp[0].includes(`${LB_MAC} >`), "sent by the balancer");
    } finally {
      removeDirs();
    }
  },
);

/** TCP echo client: `count` connections, each sends `size` bytes and reads them back; JSON. */
const TCP_ECHO_CLIENT = `
import json, socket, sys
host, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = 0
for i in range(count):
    s = socket.create_connection((host, 7), timeout=10)
    msg = bytes((i + j) % 251 for j in range(size))
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
    ok += got == msg
    s.close()
print(json.dumps({"ok": ok}))
`;

netnsTest(
  "tun: TCP echo through the tunnel; full-size segments learn the path MTU from the balancer's ICMP",
  async (t) => {
    try {
      const net = await buildLbNet(t, 0, "none");
      await startTunReals(net, 3);
      await startBalancer(net, tunService("tcp"));
      // 200 kB each way per connection: the client's 1460-byte segments (DF set, as Linux sends
      // them) do not fit the tunnel; the balancer answers ICMP fragmentation needed and the
      // client's TCP continues with smaller segments.
      const out = await t.execOk(
        net.client,
        [PY, "-c", TCP_ECHO_CLIENT, VIP, "6", "200000"],
        90_000,
      );
      assertEquals(JSON.parse(out), { ok: 6 });
      const c = await counters(net);
      assert((c["lb.tun_frag_needed"] ?? 0) >= 1, JSON.stringify(c));
      const snap = await lbJson<{ services: { conns: number; reals: { conns: number }[] }[] }>(
        net,
        ["list"],
      );
      assertEquals(snap.services[0].reals.map((r) => r.conns), [2, 2, 2]);
      const route = await t.execOk(net.client, ["ip", "route", "get", VIP]);
      assertMatch(route, /mtu 1480/);
    } finally {
      removeDirs();
    }
  },
);
