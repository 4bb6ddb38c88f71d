/**
 * The userspace host against the kernel as its peer, in a namespace network:
 *
 *   k1 (10.77.0.1) ──┐                          ┌── k2 (10.78.0.1)
 *                    ├─ br1 ── rt (kernel router) ── br2
 *   lb.ts stack ─TAP─┘        10.77.0.254 / 10.78.0.254
 *   (10.77.0.2, gateway 10.77.0.254)
 *
 * All bridges and the TAP live in one "hub" namespace; every host is its own namespace.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DENO, LB_TS, netnsTest, run, type Topology } from "./topology.ts";

interface Net {
  hub: string;
  k1: string;
  k2: string;
  tap: string;
  k1Mac: string;
  rtMac: string;
  control: string;
  pcap: string;
}

async function buildNet(t: Topology): Promise<Net> {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const k2 = await t.netns("k2");
  const rt = await t.netns("rt");
  const br1 = await t.bridge(hub, "bra");
  const br2 = await t.bridge(hub, "brb");
  const k1Mac = await t.attach(k1, hub, br1, "eth0", "10.77.0.1/24");
  const rtMac = await t.attach(rt, hub, br1, "eth0", "10.77.0.254/24");
  await t.attach(rt, hub, br2, "eth1", "10.78.0.254/24");
  await t.attach(k2, hub, br2, "eth0", "10.78.0.1/24");
  await t.execOk(rt, ["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
  await t.execOk(k2, ["ip", "route", "add", "default", "via", "10.78.0.254"]);
  const tap = await t.tap(hub, br1);
  return {
    hub,
    k1,
    k2,
    tap,
    k1Mac,
    rtMac,
    control: t.tempPath("ctl.sock"),
    pcap: t.tempPath("host.pcap"),
  };
}

function startHost(t: Topology, n: Net) {
  return t.lb(n.hub, [
    "stack",
    "--tap",
    n.tap,
    "--ip",
    "10.77.0.2/24",
    "--gateway",
    "10.77.0.254",
    "--mac",
    "02:00:5e:77:00:02",
    "--pcap",
    n.pcap,
    "--control",
    n.control,
  ], [`--allow-write=${n.pcap}`]);
}

/** Counts the replies iputils ping reports ("3 packets transmitted, 3 received"). */
function received(pingOutput: string): number {
  const m = pingOutput.match(/(\d+) packets transmitted, (\d+) received/);
  return m ? Number(m[2]) : -1;
}

netnsTest("kernel pings the userspace host, also with 4000-byte (fragmented) echoes", async (t) => {
  const n = await buildNet(t);
  const host = startHost(t, n);
  await host.waitFor("up on");

  const small = await t.exec(n.k1, ["ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2"]);
  assertEquals(received(small.stdout), 3, small.stdout + small.stderr);
  assertMatch(small.stdout, /64 bytes from 10\.77\.0\.2: icmp_seq=1 ttl=64/);

  // 4000 bytes of payload: the kernel fragments the request (3 fragments at MTU 1500), the stack
  // reassembles it, and fragments its 4008-byte reply, which the kernel reassembles.
  const big = await t.exec(n.k1, [
    "ping",
    "-c",
    "2",
    "-i",
    "0.2",
    "-W",
    "2",
    "-s",
    "4000",
    "10.77.0.2",
  ]);
  assertEquals(received(big.stdout), 2, big.stdout + big.stderr);
  assertMatch(big.stdout, /4008 bytes from 10\.77\.0\.2/);

  // Beyond what fits in one datagram after reassembly: 65507 is the largest ping payload.
  const huge = await t.exec(n.k1, ["ping", "-c", "1", "-W", "3", "-s", "65000", "10.77.0.2"]);
  assertEquals(received(huge.stdout), 1, huge.stdout + huge.stderr);

  const stats = JSON.parse((await t.lbRun(["stats", "--json", "--control", n.control])).stdout);
  assert((stats.counters["ipv4.reassembled"] ?? 0) >= 3, JSON.stringify(stats.counters));
});

netnsTest(
  "arping is answered and the kernel's neighbour table learns the host's MAC",
  async (t) => {
    const n = await buildNet(t);
    const host = startHost(t, n);
    await host.waitFor("up on");
    const r = await t.exec(n.k1, ["arping", "-c", "2", "-w", "3", "-I", "eth0", "10.77.0.2"]);
    assertMatch(r.stdout, /02:00:5e:77:00:02/i, r.stdout + r.stderr);
    // Thomas Habets' arping (Debian's `arping`): "2 packets transmitted, 2 packets received".
    assertMatch(r.stdout, /2 packets transmitted, 2 packets received/, r.stdout);
    await t.execOk(n.k1, ["ping", "-c", "1", "-W", "2", "10.77.0.2"]);
    const neigh = await t.execOk(n.k1, ["ip", "neigh", "show", "10.77.0.2"]);
    assertMatch(neigh, /lladdr 02:00:5e:77:00:02/);
  },
);

netnsTest(
  "the host pings the kernel, through a gateway a second namespace, and 127.0.0.1",
  async (t) => {
    const n = await buildNet(t);
    const host = startHost(t, n);
    await host.waitFor("up on");

    const near = await t.lbRun([
      "ping",
      "-c",
      "3",
      "-i",
      "0.2",
      "--control",
      n.control,
      "10.77.0.1",
    ]);
    assertEquals(near.code, 0, near.stdout + near.stderr);
    assertMatch(near.stdout, /3 packets transmitted, 3 received, 0% packet loss/);
    assertMatch(near.stdout, /64 bytes from 10\.77\.0\.1: icmp_seq=1 ttl=64 time=/);

    // Through the router: the next hop is the gateway (ARP for 10.77.0.254, not for 10.78.0.1), and
    // the reply has crossed one router (TTL 63).
    const far = await t.lbRun([
      "ping",
      "-c",
      "2",
      "-i",
      "0.2",
      "--control",
      n.control,
      "10.78.0.1",
    ]);
    assertEquals(far.code, 0, far.stdout + far.stderr);
    assertMatch(far.stdout, /64 bytes from 10\.78\.0\.1: icmp_seq=1 ttl=63/);

    // Fragmented in both directions.
    const big = await t.lbRun([
      "ping",
      "-c",
      "1",
      "-s",
      "3000",
      "--control",
      n.control,
      "10.78.0.1",
    ]);
    assertEquals(big.code, 0, big.stdout + big.stderr);
    assertMatch(big.stdout, /3008 bytes from 10\.78\.0\.1/);

    const arp = (await t.lbRun(["arp", "--control", n.control])).stdout;
    assertMatch(arp, new RegExp(`\\? \\(10\\.77\\.0\\.1\\) at ${n.k1Mac} \\[ether\\] on ${n.tap}`));
    assertMatch(
      arp,
      new RegExp(`\\? \\(10\\.77\\.0\\.254\\) at ${n.rtMac} \\[ether\\] on ${n.tap}`),
    );
    assert(!arp.includes("10.78.0.1"), `no ARP entry for an off-link address:\n${arp}`);

    const route = (await t.lbRun(["route", "--control", n.control])).stdout;
    assertMatch(route, /^Destination\s+Gateway\s+Genmask\s+Flags\s+Metric\s+Ref\s+Use\s+Iface$/m);
    assertMatch(
      route,
      new RegExp(`^0\\.0\\.0\\.0\\s+10\\.77\\.0\\.254\\s+0\\.0\\.0\\.0\\s+UG\\s.*${n.tap}$`, "m"),
    );
    assertMatch(
      route,
      new RegExp(
        `^10\\.77\\.0\\.0\\s+0\\.0\\.0\\.0\\s+255\\.255\\.255\\.0\\s+U\\s.*${n.tap}$`,
        "m",
      ),
    );

    // Itself, as `ping 127.0.0.1` on Linux: answered by the host through its loopback.
    const self = await t.lbRun([
      "ping",
      "-c",
      "2",
      "-i",
      "0.2",
      "--control",
      n.control,
      "127.0.0.1",
    ]);
    assertEquals(self.code, 0, self.stdout + self.stderr);
    assertMatch(self.stdout, /64 bytes from 127\.0\.0\.1: icmp_seq=1 ttl=64 time=/);

    // An unreachable on-link address: no reply, exit 1 like iputils ping.
    const none = await t.lbRun([
      "ping",
      "-c",
      "1",
      "-W",
      "1",
      "--control",
      n.control,
      "10.77.0.99",
    ]);
    assertEquals(none.code, 1, none.stdout + none.stderr);
    assertMatch(none.stdout, /1 packets transmitted, 0 received, 100% packet loss/);
  },
);

netnsTest("the --pcap file opens in tcpdump -r and shows the echoes", async (t) => {
  const n = await buildNet(t);
  const host = startHost(t, n);
  await host.waitFor("up on");
  await t.execOk(n.k1, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.2"]);
  const status = await host.stop("SIGINT");
  assertEquals(status.code, 0, host.output());
  const dump = await run(["tcpdump", "-r", n.pcap, "-nn", "-e"]);
  assertEquals(dump.code, 0, dump.stderr);
  assertMatch(dump.stdout, /ARP \(0x0806\).*Reply 10\.77\.0\.2 is-at 02:00:5e:77:00:02/);
  assertMatch(dump.stdout, /10\.77\.0\.1 > 10\.77\.0\.2: ICMP echo request/);
  assertMatch(dump.stdout, /02:00:5e:77:00:02 > .*10\.77\.0\.2 > 10\.77\.0\.1: ICMP echo reply/);
});

netnsTest("malformed frames are counted by reason while the host keeps answering", async (t) => {
  const n = await buildNet(t);
  const host = startHost(t, n);
  await host.waitFor("up on");
  await t.execOk(n.k1, ["ping", "-c", "1", "-W", "2", "10.77.0.2"]);
  // Frames built with scapy (Debian's python3-scapy, hence /usr/bin/python3), sent on a raw
  // AF_PACKET socket in k1, each addressed to the host's MAC.
  const script = `
import socket
from scapy.all import Ether, IP, ICMP, Raw
dst = "02:00:5e:77:00:02"
src = "${n.k1Mac}"
eth = bytes(Ether(dst=dst, src=src, type=0x0800))
good = bytes(IP(src="10.77.0.1", dst="10.77.0.2")/ICMP()/Raw(b"x"*16))
frames = []
# truncated: an IPv4 header cut short
frames += [eth + good[:12]] * 3
# bad header checksum
bad = bytearray(good); bad[10] ^= 0xff
frames += [eth + bytes(bad)] * 4
# IHL < 5
ihl = bytearray(good); ihl[0] = 0x44
frames += [eth + bytes(ihl)] * 5
# total length past the end of the frame
frames += [eth + bytes(IP(src="10.77.0.1", dst="10.77.0.2", len=1000)/ICMP()/Raw(b"y"*16))] * 6
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for f in frames:
    s.send(f)
print(len(frames))
`;
  const sent = await t.execOk(n.k1, ["/usr/bin/python3", "-c", script], 60_000);
  assertEquals(sent.trim(), "18");
  const ping = await t.exec(n.k1, ["ping", "-c", "2", "-i", "0.2", "-W", "2", "10.77.0.2"]);
  assertEquals(received(ping.stdout), 2, ping.stdout);
  const stats = JSON.parse((await t.lbRun(["stats", "--json", "--control", n.control])).stdout);
  const c = stats.counters as Record<string, number>;
  assertEquals(c["drop.ipv4_truncated"], 3, JSON.stringify(c));
  assertEquals(c["drop.ipv4_bad_checksum"], 4, JSON.stringify(c));
  assertEquals(c["drop.ipv4_bad_ihl"], 5, JSON.stringify(c));
  assertEquals(c["drop.ipv4_bad_total_length"], 6, JSON.stringify(c));
  const text = (await t.lbRun(["stats", "--control", n.control])).stdout;
  assertMatch(text, /^drop:$/m);
  assertMatch(text, /^ {4}ipv4_bad_checksum: 4$/m);
});

netnsTest("bad flags: one clear line, exit code 2, nothing started", async (t) => {
  const cases: [string[], RegExp][] = [
    [["stack", "--ip", "10.0.0.2/24"], /--tap NAME is required/],
    [["stack", "--tap", "x", "--ip", "10.0.0.300/24"], /--ip: "10\.0\.0\.300\/24" is not an IPv4/],
    [
      ["stack", "--tap", "x", "--ip", "10.0.0.2/24", "--gateway", "10.1.0.1"],
      /--gateway: .* not inside/,
    ],
    [["stack", "--tap", "x", "--ip", "10.0.0.2/24", "--mtu", "70000"], /--mtu: 70000 is outside/],
    [["stack", "--tap", "x", "--ip", "10.0.0.2/24", "--bogus"], /Unknown option '--bogus'/],
    [
      ["stack", "--tap", "a-very-long-tap-name", "--ip", "10.0.0.2/24"],
      /not a valid interface name/,
    ],
    [["ping", "not-an-ip"], /is not an IPv4 or IPv6 address/],
    [["frobnicate"], /unknown command "frobnicate"/],
  ];
  for (const [args, pattern] of cases) {
    const r = await t.lbRun(args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stdout}${r.stderr}`);
    assertMatch(r.stderr, pattern);
    assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  // No instance to talk to: a clear message naming the path, exit 1.
  const missing = t.tempPath("none.sock");
  const r = await t.lbRun(["arp", "--control", missing]);
  assertEquals(r.code, 1);
  assertMatch(r.stderr, new RegExp(`no running instance at ${missing}`));
});

netnsTest("ping --tap runs its own short-lived host on the TAP", async (t) => {
  const n = await buildNet(t);
  // No `lb.ts stack` here: the ping command attaches to the TAP itself and leaves it as it was.
  const r = await t.exec(n.hub, [
    DENO,
    "run",
    "--allow-ffi",
    LB_TS,
    "ping",
    "--tap",
    n.tap,
    "--ip",
    "10.77.0.3/24",
    "--gateway",
    "10.77.0.254",
    "-c",
    "2",
    "-i",
    "0.2",
    "10.78.0.1",
  ]);
  assertEquals(r.code, 0, r.stdout + r.stderr);
  assertMatch(r.stdout, /2 packets transmitted, 2 received, 0% packet loss/);
  assertMatch(r.stdout, /64 bytes from 10\.78\.0\.1: icmp_seq=1 ttl=63/);
  const link = await t.execOk(n.hub, ["ip", "link", "show", n.tap]);
  assert(link.includes(n.tap), "the persistent TAP is still there");
});
