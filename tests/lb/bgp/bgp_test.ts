/**
 * The pure parts of `--bgp`: the flag and file syntax, BIRD's configuration, `birdc` output,
 * which VIPs are announced; and the relay over two userspace stacks (BGP's TCP and BFD's UDP
 * with TTL 255) without BIRD.
 */
import { assert, assertEquals, assertMatch } from "../../assert.ts";
import {
  bgpFromJson,
  checkBgpPeer,
  DEFAULT_LOCAL_AS,
  DEFAULT_PEER_AS,
  formatBgpSpec,
  parseBgpSpec,
} from "../../../lb/bgp/options.ts";
import { birdConfig } from "../../../lb/bgp/bird_config.ts";
import { parseShowProtocols } from "../../../lb/bgp/supervisor.ts";
import { announceDiff, vipsToAnnounce } from "../../../lb/bgp/announcer.ts";
import { renderBgpMetrics } from "../../../lb/bgp/metrics.ts";
import { formatBgp } from "../../../cli/format/bgp_table.ts";
import { parseConfigText } from "../../../lb/config_file.ts";
import { parseRunArgs } from "../../../cli/commands/run.ts";
import type { BalancerSnapshot, ServiceSnapshot } from "../../../lb/balancer.ts";
import { parseIpv4 } from "../../../stack/wire/address.ts";

const ip = (s: string) => parseIpv4(s)!;

Deno.test("--bgp: peer, as=, local-as=, bfd; defaults; bad input named", () => {
  assertEquals(parseBgpSpec("10.0.0.1"), {
    peer: ip("10.0.0.1"),
    peerAs: DEFAULT_PEER_AS,
    localAs: DEFAULT_LOCAL_AS,
    bfd: false,
  });
  assertEquals(parseBgpSpec("10.0.0.1,as=64512,local-as=4200000000,bfd"), {
    peer: ip("10.0.0.1"),
    peerAs: 64512,
    localAs: 4200000000,
    bfd: true,
  });
  assertMatch(parseBgpSpec("10.0.0") as string, /not an IPv4 address/);
  assertMatch(parseBgpSpec("10.0.0.1,as=0") as string, /outside 1\.\.4294967294/);
  assertMatch(parseBgpSpec("10.0.0.1,as=x") as string, /not an AS number/);
  assertMatch(parseBgpSpec("10.0.0.1,hold=3") as string, /"hold=3" is not as=N/);
  assertMatch(parseBgpSpec("10.0.0.1,bfd,bfd") as string, /given twice/);
  const b = parseBgpSpec("10.0.0.1,as=1,local-as=2,bfd");
  assert(typeof b !== "string");
  assertEquals(parseBgpSpec(formatBgpSpec(b)), b);
  assertEquals(bgpFromJson({ peer: "10.0.0.1", as: 1, "local-as": 2, bfd: true }), b);
  assertMatch(bgpFromJson({ peer: "10.0.0.1", hold: 3 }) as string, /unknown field "hold"/);
  assertEquals(checkBgpPeer(b, ip("10.0.0.2"), 24), null);
  assertMatch(checkBgpPeer(b, ip("10.0.1.2"), 24)!, /not on the link/);
  assertMatch(checkBgpPeer(b, ip("10.0.0.1"), 24)!, /own --ip/);
});

Deno.test("run --bgp: validated with the rest; NAT services refused with the reason", () => {
  const base = ["--tap", "t0", "--ip", "10.0.0.2/24", "--service", "tcp:10.0.0.100:80"];
  const ok = parseRunArgs([...base, "--real", "10.0.0.11", "--bgp", "10.0.0.1,bfd"]);
  assertEquals(ok.bgp?.bfd, true);
  const err = (args: string[]) => {
    try {
      parseRunArgs(args);
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  };
  assertMatch(
    err([...base, "--method", "nat", "--real", "10.0.0.11", "--bgp", "10.0.0.1"]),
    /--bgp cannot announce NAT service 10\.0\.0\.100:80/,
  );
  assertMatch(err([...base, "--real", "10.0.0.11", "--bgp", "10.9.0.1"]), /not on the link/);
  assertMatch(err([...base, "--real", "10.0.0.11", "--bgp", "10.0.0.1,as=x"]), /AS number/);
  const fc = parseConfigText(
    JSON.stringify({ bgp: "10.0.0.1,as=65000,bfd", services: [] }),
    "f.json",
  );
  assertEquals(fc.bgp?.peerAs, 65000);
  let msg = "";
  try {
    parseConfigText(JSON.stringify({ bgp: "10.0.0.1,as=0", services: [] }), "f.json");
  } catch (e) {
    msg = (e as Error).message;
  }
  assertMatch(msg, /f\.json: \$\.bgp: as=0 is outside/);
});

Deno.test("BIRD config: router id, session and next hop from --ip; VIPs as /32; BFD 100 ms x 3", () => {
  const text = birdConfig({
    self: ip("10.0.0.2"),
    bgp: { peer: ip("10.0.0.1"), peerAs: 65000, localAs: 65001, bfd: true },
    vips: [ip("10.0.0.101"), ip("10.0.0.100"), ip("10.0.0.100")],
    logFile: "/run/x/bird.log",
  });
  assertMatch(text, /router id 10\.0\.0\.2;/);
  assertMatch(text, /local 10\.0\.0\.2 as 65001;/);
  assertMatch(text, /neighbor 10\.0\.0\.1 as 65000;/);
  assertMatch(text, /route 10\.0\.0\.100\/32 blackhole;\n {2}route 10\.0\.0\.101\/32 blackhole;/);
  assertMatch(text, /min tx interval 100 ms;[\s\S]*multiplier 3;/);
  assertMatch(text, /bfd on;/);
  const none = birdConfig({
    self: ip("10.0.0.2"),
    bgp: { peer: ip("10.0.0.1"), peerAs: 65000, localAs: 65001, bfd: false },
    vips: [],
    logFile: "/run/x/bird.log",
  });
  assert(!none.includes("bfd"));
  assert(!none.includes("route "));
});

Deno.test("birdc show protocols: parsed with iso long times", () => {
  const out = [
    "BIRD 2.0.12 ready.",
    "Name       Proto      Table      State  Since         Info",
    "device1    Device     ---        up     2026-12-06 09:38:51  ",
    "uplink     BGP        ---        start  2026-12-06 09:39:57  Active        Socket: Connection closed",
    "vips       Static     master4    up     2026-12-06 09:38:51  ",
  ].join("\n");
  const p = parseShowProtocols(out);
  assertEquals(p.length, 3);
  assertEquals(p[1], {
    name: "uplink",
    proto: "BGP",
    state: "start",
    since: "2026-12-06 09:39:57",
    info: "Active        Socket: Connection closed",
  });
});

function service(vip: string, reals: [number, boolean | undefined][]): ServiceSnapshot {
  return {
    protocol: "tcp",
    vip,
    port: 80,
    scheduler: "mh",
    flags: "",
    conns: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    reals: reals.map(([weight, available], i) => ({
      address: `10.0.0.${11 + i}`,
      port: 80,
      weight,
      method: "dr",
      activeConns: 0,
      inactiveConns: 0,
      conns: 0,
      packetsIn: 0,
      packetsOut: 0,
      bytesIn: 0,
      bytesOut: 0,
      available,
    })),
  };
}

Deno.test("announce: a VIP with one healthy real server; withdrawn when none; diff", () => {
  const snap: BalancerSnapshot = {
    capacity: 1,
    connections: 0,
    embryonic: 0,
    table: {},
    counters: {},
    services: [
      service("10.0.0.100", [[1, false], [1, true]]),
      service("10.0.0.101", [[1, false], [0, true]]),
      service("10.0.0.102", []),
      service("10.0.0.103", [[1, undefined]]),
    ],
  };
  assertEquals(vipsToAnnounce(snap), [ip("10.0.0.100"), ip("10.0.0.103")]);
  assertEquals(announceDiff([1, 2], [2, 3]), { announce: [3], withdraw: [1] });
});

Deno.test("list and /metrics: sessions and announce states", () => {
  const status = {
    sessions: [{
      peer: "10.0.0.1",
      peerAs: 65000,
      localAs: 65001,
      bfd: true,
      state: "up",
      since: "2026-12-06 09:39:57",
      info: "Established",
    }],
    vips: [
      { prefix: "10.0.0.100/32", announced: true, since: "t", reason: "healthy" },
      { prefix: "10.0.0.101/32", announced: false, since: "t", reason: "no healthy real server" },
    ],
    draining: false,
    birdPid: 42,
    birdRestarts: 1,
    runDir: "/run/lbts.sock.bgp",
    announcements: 2,
    withdrawals: 1,
    relay: { bgpConnections: 1, bgpRefused: 0, bfdOut: 0, bfdIn: 0 },
  };
  const text = formatBgp(status);
  assertMatch(text, /10\.0\.0\.1 +65000 +65001 +on +up +2026-12-06 09:39:57 +Established/);
  assertMatch(text, /10\.0\.0\.101\/32 +withdrawn/);
  const m = renderBgpMetrics(status);
  assertMatch(m, /lb_bgp_session_up\{peer="10\.0\.0\.1",state="Established"\} 1/);
  assertMatch(m, /lb_bgp_vip_announced\{vip="10\.0\.0\.101\/32"\} 0/);
  assertMatch(m, /lb_bgp_withdrawals_total 1/);
  assertMatch(m, /lb_bgp_bird_restarts_total 1/);
  assertMatch(text, /BIRD pid 42, restarted 1 time/);
});

Deno.test("relay: BGP's TCP both ways and BFD with TTL 255 (GTSM), over userspace stacks", async () => {
  const { createMemoryPair } = await import("../../../stack/link/memory.ts");
  const { Stack } = await import("../../../stack/net/stack.ts");
  const { BgpRelay } = await import("../../../lb/bgp/relay.ts");
  const SELF = ip("10.0.0.2");
  const PEER = ip("10.0.0.1");
  const mac = (n: number) => new Uint8Array([2, 0, 0, 0, 0, n]);
  // The wire: router <-> instance; the inner link: relay's inner stack <-> "BIRD".
  const [dr, dout] = createMemoryPair({ macA: mac(1), macB: mac(2) });
  const [dinner, dbird] = createMemoryPair({ macA: mac(3), macB: mac(4) });
  const router = new Stack({ device: dr, address: PEER, prefix: 24 });
  const outer = new Stack({ device: dout, address: SELF, prefix: 24 });
  const inner = new Stack({ device: dinner, address: PEER, prefix: 24 });
  const bird = new Stack({ device: dbird, address: SELF, prefix: 24 });
  const stacks = [router, outer, inner, bird];
  const runs = stacks.map((s) => s.start());
  const relay = new BgpRelay(outer, inner, PEER, SELF, true);
  const enc = new TextEncoder();
  const dec = new TextDecoder();
  try {
    // BIRD -> router: BIRD connects to the router's address on its link.
    const rl = router.listen({ port: 179 });
    const c1 = await bird.connect({ hostname: "10.0.0.1", port: 179 });
    const s1 = await rl.accept();
    assertEquals(s1.remoteAddr.hostname, "10.0.0.2");
    await c1.write(enc.encode("OPEN"));
    const buf = new Uint8Array(16);
    assertEquals(dec.decode(buf.subarray(0, (await s1.read(buf))!)), "OPEN");
    await s1.write(enc.encode("KEEPALIVE"));
    assertEquals(dec.decode(buf.subarray(0, (await c1.read(buf))!)), "KEEPALIVE");
    c1.close();
    s1.close();
    rl.close();
    // Router -> BIRD.
    const bl = bird.listen({ port: 179 });
    const c2 = await router.connect({ hostname: "10.0.0.2", port: 179 });
    const s2 = await bl.accept();
    assertEquals(s2.remoteAddr.hostname, "10.0.0.1");
    await c2.write(enc.encode("UPDATE"));
    assertEquals(dec.decode(buf.subarray(0, (await s2.read(buf))!)), "UPDATE");
    c2.close();
    s2.close();
    bl.close();
    assertEquals(relay.stats.bgpConnections, 2);
    // BFD: TTL 255 both ways, the source port kept; TTL 64 dropped (RFC 5881 5).
    const rb = router.listenDatagram({ transport: "udp", port: 3784, ttl: 255 });
    const bb = bird.listenDatagram({ transport: "udp", port: 3784, ttl: 255 });
    const bs = bird.listenDatagram({ transport: "udp", port: 49200, ttl: 255 });
    await bs.send(enc.encode("bfd-out"), { hostname: "10.0.0.1", port: 3784 });
    const [d1, a1] = await rb.receive();
    assertEquals([dec.decode(d1), a1.hostname, a1.port], ["bfd-out", "10.0.0.2", 49200]);
    const rs = router.listenDatagram({ transport: "udp", port: 49300, ttl: 255 });
    await rs.send(enc.encode("bfd-in"), { hostname: "10.0.0.2", port: 3784 });
    const [d2, a2] = await bb.receive();
    assertEquals([dec.decode(d2), a2.hostname, a2.port], ["bfd-in", "10.0.0.1", 49300]);
    const low = router.listenDatagram({ transport: "udp", port: 49301 });
    await low.send(enc.encode("ttl64"), { hostname: "10.0.0.2", port: 3784 });
    await new Promise((r) => setTimeout(r, 50));
    assertEquals(outer.counters.snapshot()["drop.udp_min_ttl"], 1);
    assertEquals(bb.queued, 0);
    for (const s of [rb, bb, bs, rs, low]) s.close();
  } finally {
    relay.close();
    for (const s of stacks) s.close();
    await Promise.all(runs);
  }
});

Deno.test('run --config with "bgp" and a NAT real server: refused before anything opens', async () => {
  const { runCommand } = await import("../../../cli/commands/run.ts");
  const file = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(
      file,
      JSON.stringify({
        bgp: "10.0.0.1,bfd",
        services: [{
          protocol: "tcp",
          vip: "10.0.0.100",
          port: 80,
          reals: [{ address: "10.0.0.11", method: "nat" }],
        }],
      }),
    );
    let msg = "";
    try {
      await runCommand(["--tap", "t0", "--ip", "10.0.0.2/24", "--config", file]);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, /--bgp cannot announce NAT service 10\.0\.0\.100:80/);
    await Deno.writeTextFile(file, JSON.stringify({ bgp: "10.9.0.1", services: [] }));
    msg = "";
    try {
      await runCommand(["--tap", "t0", "--ip", "10.0.0.2/24", "--config", file]);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, /not on the link/);
    msg = "";
    try {
      await runCommand([
        "--tap",
        "t0",
        "--ip",
        "10.0.0.2/24",
        "--config",
        file,
        "--bgp",
        "10.0.0.1",
      ]);
    } catch (e) {
      msg = (e as Error).message;
    }
    assertMatch(msg, /--bgp and "bgp" in .* \(give one or the other\)/);
  } finally {
    await Deno.remove(file);
  }
});
