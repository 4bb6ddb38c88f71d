/**
 * TCP over IPv6 between the userspace host and the kernel, checked by SHA-256 end to end:
 * kernel `curl -6` downloads 100 MB from the stack's HTTP service (plain, then with the TAP's
 * offloads: TCPV6 super-frames both ways) and `lb.ts fetch` 100 MB from a kernel server by a
 * bracketed IPv6 URL (and 10 MB under `--impair`). Across two kernel routers whose middle link
 * carries 1280 bytes, 20 MB cross each way: the stack learns the path MTU from the routers'
 * Packet Too Big (RFC 8201) and the kernel from its own.
 *
 *   k1 (2001:db8:86::1) ── br ── TAP ts: lb.ts stack (::2, http:80)
 *                              └─ TAP tf: lb.ts fetch (::3)
 *   stack/fetch (2001:db8:88::/64) ── r1 ══1280══ r2 ── k2 (2001:db8:89::2)
 */
import { assert, assertEquals } from "../assert.ts";
import { DENO, LB_TS, netnsTest, type Topology } from "./topology.ts";
import { bytesSha256 } from "../../stack/services/http.ts";
import { sentHash, startKernelHttp } from "./_kernel_http.ts";

const MB100 = 104_857_600;
const MB20 = 20_971_520;

/** `lb.ts fetch URL --sha256` on `tap` with `ip6`; returns the printed hash. */
async function fetchHash(
  t: Topology,
  ns: string,
  tap: string,
  ip4: string,
  ip6: string,
  url: string,
  n: number,
  extra: string[] = [],
): Promise<string> {
  const r = await t.exec(ns, [
    DENO,
    "run",
    "--allow-ffi",
    LB_TS,
    "fetch",
    url,
    "--tap",
    tap,
    "--ip",
    ip4,
    "--ip",
    ip6,
    "--nodad",
    "--timeout",
    "60",
    "--sha256",
    ...extra,
  ], 300_000);
  assertEquals(r.code, 0, r.stdout + r.stderr);
  const m = new RegExp(`^([0-9a-f]{64})  ${n} bytes$`, "m").exec(r.stdout);
  assert(m !== null, r.stdout + r.stderr);
  return m[1];
}

netnsTest(
  "TCP/IPv6: curl -6 and lb.ts fetch move 100 MB each way by SHA-256 (plain, offloads, impaired)",
  async (t) => {
    const hub = await t.netns("hub");
    const k1 = await t.netns("k1");
    const br = await t.bridge(hub, "br");
    await t.attach(k1, hub, br, "eth0", "10.86.0.1/24");
    await t.execOk(k1, ["ip", "-6", "addr", "add", "2001:db8:86::1/64", "dev", "eth0", "nodad"]);
    const ts = await t.tap(hub, br, "ts");
    const tf = await t.tap(hub, br, "tf");
    const server = await startKernelHttp(t, k1, "::", 8000);
    const want = bytesSha256(MB100);
    for (const offload of [false, true]) {
      const control = t.tempPath(`tcp6${offload}.sock`);
      const host = t.lb(hub, [
        "stack",
        "--tap",
        ts,
        "--ip",
        "10.86.0.2/24",
        "--ip",
        "2001:db8:86::2/64",
        "--nodad",
        "--control",
        control,
        "--serve",
        "http:80",
        ...(offload ? ["--offload"] : []),
      ]);
      await host.waitFor("serving", 30_000);
      const got = await t.execOk(k1, [
        "sh",
        "-c",
        `curl -6 -gsS --max-time 120 http://[2001:db8:86::2]/bytes/${MB100} | sha256sum`,
      ], 180_000);
      assertEquals(got.split(" ")[0], want, `offload ${offload}`);
      const c = await t.counters(control);
      assertEquals(c["drop.tcp_bad_checksum"] ?? 0, 0, JSON.stringify(c));
      if (offload) assert((c["tcp.tso_frames"] ?? 0) > 100, `super-frames: ${JSON.stringify(c)}`);
      // netstat shows the IPv6 listener like net-tools does.
      const ns = await t.lbRun(["netstat", "--control", control]);
      assert(/^tcp6 +\d+ +\d+ :::80 +:::\* +LISTEN$/m.test(ns.stdout), ns.stdout);
      await host.stop();
      // The next host comes up with a new MAC: its unsolicited advertisement (RFC 4861 7.2.6)
      // updates the kernel's neighbor entry, as gratuitous ARP does over IPv4.
    }
    // The other way: lb.ts fetch from the kernel's server, by a bracketed IPv6 URL.
    const url = "http://[2001:db8:86::1]:8000/big/";
    const fetched = await fetchHash(
      t,
      hub,
      tf,
      "10.86.0.3/24",
      "2001:db8:86::3/64",
      url + MB100,
      MB100,
    );
    assertEquals(fetched, await sentHash(server, MB100), server.output());
    const impaired = await fetchHash(
      t,
      hub,
      tf,
      "10.86.0.3/24",
      "2001:db8:86::3/64",
      url + 10_485_760,
      10_485_760,
      ["--impair", "loss=2%,reorder=5%,dup=1%,delay=5ms"],
    );
    assertEquals(impaired, await sentHash(server, 10_485_760), server.output());
  },
  600_000,
);

netnsTest(
  "TCP/IPv6: Packet Too Big across a 1280-byte link: 20 MB each way complete",
  async (t) => {
    const hub = await t.netns("hub");
    const r1 = await t.netns("r1");
    const r2 = await t.netns("r2");
    const k2 = await t.netns("k2");
    const br = await t.bridge(hub, "br");
    const mid = await t.bridge(hub, "mid");
    const far = await t.bridge(hub, "far");
    await t.attach(r1, hub, br, "eth0", "10.87.0.254/24");
    await t.attach(r1, hub, mid, "eth1", "10.87.1.1/30");
    await t.attach(r2, hub, mid, "eth0", "10.87.1.2/30");
    await t.attach(r2, hub, far, "eth1", "10.87.2.254/24");
    await t.attach(k2, hub, far, "eth0", "10.87.2.1/24");
    const addr6 = async (ns: string, dev: string, cidr: string) =>
      await t.execOk(ns, ["ip", "-6", "addr", "add", cidr, "dev", dev, "nodad"]);
    await addr6(r1, "eth0", "2001:db8:88::1/64");
    await addr6(r1, "eth1", "2001:db8:8a::1/64");
    await addr6(r2, "eth0", "2001:db8:8a::2/64");
    await addr6(r2, "eth1", "2001:db8:89::1/64");
    await addr6(k2, "eth0", "2001:db8:89::2/64");
    // The narrow link: 1280 bytes (IPv6's minimum) on both of its ends.
    await t.execOk(r1, ["ip", "link", "set", "eth1", "mtu", "1280"]);
    await t.execOk(r2, ["ip", "link", "set", "eth0", "mtu", "1280"]);
    for (const r of [r1, r2]) {
      await t.execOk(r, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
    }
    await t.execOk(r1, ["ip", "-6", "route", "add", "2001:db8:89::/64", "via", "2001:db8:8a::2"]);
    await t.execOk(r2, ["ip", "-6", "route", "add", "2001:db8:88::/64", "via", "2001:db8:8a::1"]);
    await t.execOk(k2, ["ip", "-6", "route", "add", "default", "via", "2001:db8:89::1"]);
    const ts = await t.tap(hub, br, "ts");
    const tf = await t.tap(hub, br, "tf");
    const control = t.tempPath("ptb6.sock");
    const host = t.lb(hub, [
      "stack",
      "--tap",
      ts,
      "--ip",
      "10.87.0.2/24",
      "--ip",
      "2001:db8:88::2/64",
      "--gateway",
      "2001:db8:88::1",
      "--nodad",
      "--control",
      control,
      "--serve",
      "http:80",
    ]);
    await host.waitFor("serving", 30_000);
    // Stack -> kernel: the stack's 1500-byte segments meet r1's Packet Too Big.
    const down = await t.execOk(k2, [
      "sh",
      "-c",
      `curl -6 -gsS --max-time 120 http://[2001:db8:88::2]/bytes/${MB20} | sha256sum`,
    ], 180_000);
    assertEquals(down.split(" ")[0], bytesSha256(MB20));
    const c = await t.counters(control);
    assert((c["icmpv6.rx_error_2"] ?? 0) >= 1, `Packet Too Big arrived: ${JSON.stringify(c)}`);
    assert((c["tcp.pmtu_reduced"] ?? 0) >= 1, JSON.stringify(c));
    // Kernel -> stack: the kernel learns the path from r2 by itself; lb.ts fetch receives.
    const server = await startKernelHttp(t, k2, "::", 8000);
    const fetched = await fetchHash(
      t,
      hub,
      tf,
      "10.87.0.3/24",
      "2001:db8:88::3/64",
      `http://[2001:db8:89::2]:8000/big/${MB20}`,
      MB20,
      ["--gateway", "2001:db8:88::1"],
    );
    assertEquals(fetched, await sentHash(server, MB20));
  },
  300_000,
);
