/**
 * UDP over IPv6 between the userspace host and the kernel: the kernel's datagrams, small and
 * fragmented by the kernel (up to 65,000 bytes), come back whole from the stack's echo service,
 * fragmented by the stack and reassembled by the kernel; a closed port is refused (the kernel's
 * connected socket sees ICMPv6 port unreachable as ECONNREFUSED). Across a kernel router whose
 * far link carries 1280 bytes, the router's Packet Too Big teaches the stack the path MTU
 * (RFC 8201) and its next answers fit.
 *
 *   k1 (2001:db8:88::1) ── br ── TAP ── lb.ts stack (2001:db8:88::2, echo:7/udp)
 *   lb.ts stack ── br ── r (2001:db8:88::1 | 2001:db8:89::1) ══1280══ k2 (2001:db8:89::2)
 */
import { assert, assertEquals } from "../assert.ts";
import { netnsTest } from "./topology.ts";

/** The kernel's side: sends each size to the echo service (resending on a loss) and checks. */
const CLIENT = `
import os, socket, sys
dst = sys.argv[1]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(1.0)
for n in [int(x) for x in sys.argv[2].split(",")]:
    data = os.urandom(n)
    got, tries = None, 0
    while got is None and tries < 5:
        tries += 1
        s.sendto(data, (dst, 7))
        try:
            got, addr = s.recvfrom(70000)
        except socket.timeout:
            pass
    print(n, "ok" if got == data else "bad", addr[0] if got else "-", tries)
c = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
c.connect((dst, 9))
c.settimeout(2.0)
c.send(b"anyone?")
try:
    c.recv(100)
    print("closed answered")
except ConnectionRefusedError:
    print("closed refused")
except socket.timeout:
    print("closed silent")
`;

netnsTest(
  "UDP/IPv6: kernel datagrams up to 65,000 bytes echo back whole; closed ports refuse",
  async (t) => {
    const hub = await t.netns("hub");
    const k1 = await t.netns("k1");
    const br = await t.bridge(hub, "br");
    await t.attach(k1, hub, br, "eth0", "10.88.0.1/24");
    await t.execOk(k1, ["ip", "-6", "addr", "add", "2001:db8:88::1/64", "dev", "eth0", "nodad"]);
    const tap = await t.tap(hub, br);
    const control = t.tempPath("u6.sock");
    const host = t.lb(hub, [
      "stack",
      "--tap",
      tap,
      "--ip",
      "10.88.0.2/24",
      "--ip",
      "2001:db8:88::2/64",
      "--nodad",
      "--control",
      control,
      "--serve",
      "echo:7/udp",
    ]);
    await host.waitFor("serving", 30_000);
    const out = await t.execOk(k1, [
      "/usr/bin/python3",
      "-c",
      CLIENT,
      "2001:db8:88::2",
      "100,1452,1453,4000,65000",
    ], 60_000);
    const lines = out.trim().split("\n");
    for (const n of [100, 1452, 1453, 4000, 65000]) {
      assert(lines.some((l) => l.startsWith(`${n} ok 2001:db8:88::2 `)), out);
    }
    assert(lines.includes("closed refused"), out);
    const c = await t.counters(control);
    // 1453 bytes and up do not fit 1500 with the headers: fragmented by the kernel and by us.
    assert((c["ipv6.reassembled"] ?? 0) >= 3, JSON.stringify(c));
    assert((c["ipv6.fragmented"] ?? 0) >= 3, JSON.stringify(c));
    assertEquals(c["icmpv6.tx_error_1"], 1, "one port unreachable");
    // The same socket answers IPv4 too (a dual-stack service).
    const v4 = await t.execOk(k1, [
      "/usr/bin/python3",
      "-c",
      CLIENT.replace("AF_INET6", "AF_INET").replace("AF_INET6", "AF_INET"),
      "10.88.0.2",
      "100,3000",
    ], 60_000);
    assert(v4.includes("100 ok 10.88.0.2") && v4.includes("3000 ok 10.88.0.2"), v4);
  },
);

netnsTest("UDP/IPv6: a router's Packet Too Big teaches the stack the path MTU", async (t) => {
  const hub = await t.netns("hub");
  const r = await t.netns("r");
  const k2 = await t.netns("k2");
  const br = await t.bridge(hub, "br");
  const far = await t.bridge(hub, "far");
  await t.attach(r, hub, br, "eth0", "10.89.0.1/24");
  await t.attach(r, hub, far, "eth1", "10.90.0.1/24");
  await t.attach(k2, hub, far, "eth0", "10.90.0.2/24");
  await t.execOk(r, ["ip", "-6", "addr", "add", "2001:db8:88::1/64", "dev", "eth0", "nodad"]);
  await t.execOk(r, ["ip", "-6", "addr", "add", "2001:db8:89::1/64", "dev", "eth1", "nodad"]);
  await t.execOk(k2, ["ip", "-6", "addr", "add", "2001:db8:89::2/64", "dev", "eth0", "nodad"]);
  // The far link carries 1280 bytes, the IPv6 minimum.
  await t.execOk(r, ["ip", "link", "set", "eth1", "mtu", "1280"]);
  await t.execOk(k2, ["ip", "link", "set", "eth0", "mtu", "1280"]);
  await t.execOk(r, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
  await t.execOk(k2, ["ip", "-6", "route", "add", "default", "via", "2001:db8:89::1"]);
  const tap = await t.tap(hub, br);
  const control = t.tempPath("ptb.sock");
  const host = t.lb(hub, [
    "stack",
    "--tap",
    tap,
    "--ip",
    "10.89.0.2/24",
    "--ip",
    "2001:db8:88::2/64",
    "--gateway",
    "2001:db8:88::1",
    "--nodad",
    "--control",
    control,
    "--serve",
    "echo:7/udp",
  ]);
  await host.waitFor("serving", 30_000);
  // 3000 bytes: the kernel sends 1280-byte fragments; the stack's first answer leaves in
  // 1500-byte fragments the router cannot forward, so it is lost and the client resends.
  const out = await t.execOk(
    k2,
    ["/usr/bin/python3", "-c", CLIENT, "2001:db8:88::2", "3000"],
    60_000,
  );
  assert(out.includes("3000 ok 2001:db8:88::2"), out);
  const c = await t.counters(control);
  assert((c["icmpv6.rx_error_2"] ?? 0) >= 1, `a Packet Too Big arrived: ${JSON.stringify(c)}`);
  assert((c["icmpv6.pmtu_learned"] ?? 0) >= 1, JSON.stringify(c));
  // Later answers fit at once: a second round needs one try.
  const again = await t.execOk(
    k2,
    ["/usr/bin/python3", "-c", CLIENT, "2001:db8:88::2", "3000"],
    60_000,
  );
  assert(again.includes("3000 ok 2001:db8:88::2 1"), again);
});
