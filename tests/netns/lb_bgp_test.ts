/**
 * Scale-out (`lb.ts run --bgp`): two and three balancer instances behind a kernel router that
 * runs BIRD with multipath, each instance announcing the VIP over BGP with BFD from its own
 * BIRD (tests/netns/_bgp_net.ts draws the network). Checked against the router's kernel routes:
 * one next hop per instance; connections spread over the instances and the real servers; all
 * real servers down withdraws the VIP and one back announces it again; kill -9 of an instance
 * drops its next hop within BFD's 300 ms; 20 long downloads keep their real server (SHA-256)
 * while an instance is added and another drained away with SIGTERM; with TUN, 20 keep-alive
 * sessions survive an instance added and another killed.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import { programMissing } from "../requires.ts";
import {
  counters,
  PY,
  requestsFromPorts,
  ROUTER,
  sha256File,
  startHttpServers,
  tally,
  VIP,
  writeBigFile,
} from "./_lb_net.ts";
import {
  buildBgpNet,
  cleanupBgp,
  INSTANCE_IPS,
  listJson,
  processAlive,
  startBgpInstance,
  waitNextHops,
} from "./_bgp_net.ts";

const missing = programMissing("bird", "bash scripts/setup.sh") ??
  programMissing("setpriv", "bash scripts/setup.sh");
const [, IP1, IP2, IP3] = INSTANCE_IPS;

netnsTest(
  "bgp: ECMP over two instances, spread, list; all real servers down withdraws; kill -9 with BFD",
  async (t) => {
    const net = await buildBgpNet(t);
    try {
      const servers = await startHttpServers(net);
      const health = ["--check", "tcp", "--check-interval", "0.3", "--fall", "1", "--rise", "1"];
      const a = await startBgpInstance(net, 1, health);
      const b = await startBgpInstance(
        net,
        2,
        [...health, "--metrics", "127.0.0.1:0"],
        true,
        ["--allow-net=127.0.0.1"],
      );
      await waitNextHops(net, [IP1, IP2]);
      // The instance reads BIRD's session state twice a second.
      let la = await listJson(net, a);
      for (let i = 0; i < 20 && la.bgp.sessions[0].info !== "Established"; i++) {
        await new Promise((r) => setTimeout(r, 250));
        la = await listJson(net, a);
      }
      assertEquals(la.bgp.sessions[0].info, "Established");
      assertEquals(la.bgp.vips, [{ ...la.bgp.vips[0], prefix: `${VIP}/32`, announced: true }]);
      const text = (await t.lbRun(["list", "--control", a.control])).stdout;
      assertMatch(text, /10\.77\.0\.254 +65000 +65001 +on +up .* Established/);
      assertMatch(text, /10\.77\.0\.100\/32 +announced/);
      const saved = (await t.lbRun(["save", "--control", a.control])).stdout;
      assertMatch(saved, /"bgp": "10\.77\.0\.254,as=65000,local-as=65001,bfd"/);
      const url = b.proc.output().match(/metrics on (http:\S+)/)![1];
      let metrics = "";
      for (let i = 0; i < 20 && !metrics.includes('state="Established"'); i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 250));
        metrics = await t.execOk(net.hub, ["curl", "-sS", url]);
      }
      assertMatch(metrics, /lb_bgp_session_up\{peer="10\.77\.0\.254",state="Established"\} 1/);
      assertMatch(metrics, /lb_bgp_vip_announced\{vip="10\.77\.0\.100\/32"\} 1/);

      // Hundreds of new connections: over both instances and all three real servers.
      const got = Object.values(await requestsFromPorts(net, 21000, 300));
      assertEquals(got.filter((g) => g === null).length, 0);
      const perReal = tally(got);
      const perInstance = [
        (await listJson(net, a)).services[0].conns,
        (await listJson(net, b))
          .services[0].conns,
      ];
      console.log(`spread: real servers ${JSON.stringify(perReal)}, instances ${perInstance}`);
      for (const r of ["r1", "r2", "r3"]) assert((perReal[r] ?? 0) > 30, `${r}: ${perReal[r]}`);
      for (const n of perInstance) assert(n > 50, `instances: ${perInstance}`);
      assertEquals(perInstance[0] + perInstance[1], 300);

      // Every real server down: the VIP is withdrawn by both; one back: announced again.
      await Promise.all(servers.map((p) => p.stop("SIGKILL")));
      await waitNextHops(net, [], 15_000);
      await a.proc.waitFor("bgp_withdraw", 5000);
      assertEquals((await listJson(net, b)).bgp.vips[0].announced, false);
      assertMatch(
        await t.execOk(net.hub, ["curl", "-sS", url]),
        /lb_bgp_vip_announced\{vip="10\.77\.0\.100\/32"\} 0/,
      );
      const r1 = net.reals[0];
      const back = t.spawn(r1.ns, [PY, "-u", "-m", "http.server", "80", "--directory", r1.dir]);
      await back.waitFor("Serving HTTP", 15_000);
      await waitNextHops(net, [IP1, IP2], 15_000);
      await startHttpServersExcept(net, 0);

      // BIRD killed under a running instance: its next hop goes (BFD), the instance starts BIRD
      // again and announces again.
      const oldBird = (await listJson(net, b)).bgp.birdPid;
      Deno.kill(oldBird, "SIGKILL");
      await waitNextHops(net, [IP1], 5000);
      await b.proc.waitFor("bgp_bird_exited", 5000);
      await waitNextHops(net, [IP1, IP2], 30_000);
      assert((await listJson(net, b)).bgp.birdPid !== oldBird);

      // kill -9 of an instance: BFD takes its next hop away in well under 0.5 s, its BIRD dies
      // with it (parent-death signal), and new connections succeed through the other.
      const birdPid = (await listJson(net, a)).bgp.birdPid;
      const t0 = performance.now();
      a.proc.child.kill("SIGKILL");
      await waitNextHops(net, [IP2], 5000);
      const failoverMs = performance.now() - t0;
      console.log(`kill -9 failover (BFD 100 ms x 3): ${failoverMs.toFixed(0)} ms`);
      assert(failoverMs < 500, `failover took ${failoverMs} ms`);
      for (let i = 0; i < 50 && processAlive(birdPid); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert(!processAlive(birdPid), `BIRD ${birdPid} outlived its instance`);
      const after = Object.values(await requestsFromPorts(net, 23000, 60));
      assertEquals(after.filter((g) => g === null).length, 0);

      // lb.ts drain --all: withdrawn, then the instance stops by itself.
      const drained = await t.lbRun(["drain", "--all", "--timeout", "10", "--control", b.control]);
      assertEquals(drained.code, 0, drained.stderr);
      assertMatch(drained.stdout, /VIPs withdrawn, instance draining[\s\S]*instance stopped/);
      await waitNextHops(net, [], 5000);
      assertEquals((await b.proc.status).code, 0);
      assertMatch(b.proc.output(), /bgp_withdraw .* \(draining\)/);
    } finally {
      cleanupBgp(net);
    }
  },
  120_000,
  missing,
);

/** Starts http.server on every real server but the one at `skip` (already running). */
async function startHttpServersExcept(
  net: Awaited<ReturnType<typeof buildBgpNet>>,
  skip: number,
): Promise<void> {
  const procs = net.reals.filter((_, i) => i !== skip).map((r) =>
    net.t.spawn(r.ns, [PY, "-u", "-m", "http.server", "80", "--directory", r.dir])
  );
  await Promise.all(procs.map((p) => p.waitFor("Serving HTTP", 15_000)));
}

netnsTest(
  "bgp: 20 long downloads keep their real server while an instance is added and another drained",
  async (t) => {
    const net = await buildBgpNet(t);
    try {
      // A small receive buffer, so curl's --limit-rate paces the transfer on the wire.
      await t.execOk(net.client, ["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
      writeBigFile(net, "big", 4 << 20);
      const shas = new Set(await Promise.all(net.reals.map((r) => sha256File(`${r.dir}/big`))));
      await startHttpServers(net);
      const a = await startBgpInstance(net, 1);
      const b = await startBgpInstance(net, 2);
      await waitNextHops(net, [IP1, IP2]);
      const out = Array.from({ length: 20 }, (_, i) => t.tempPath(`dl${i}`));
      const args = [
        "-sS",
        "--parallel",
        "--parallel-immediate",
        "--parallel-max",
        "20",
        "--limit-rate",
        "200k",
      ];
      for (const f of out) args.push("--max-time", "60", "-o", f, `http://${VIP}/big`);
      const curl = t.exec(net.client, ["curl", ...args], 90_000);
      await new Promise((r) => setTimeout(r, 2500));
      const c = await startBgpInstance(net, 3);
      await waitNextHops(net, [IP1, IP2, IP3]);
      await new Promise((r) => setTimeout(r, 1500));
      // SIGTERM: withdraw first, forward until the router has stopped sending, exit 0.
      const stopped = a.proc.stop("SIGTERM", 40_000);
      await waitNextHops(net, [IP2, IP3], 5000);
      // New connections once the router has the withdrawal: none of them may reach the drained
      // instance (it counts the flows it still saw start, below).
      const fresh = Object.values(await requestsFromPorts(net, 25000, 20));
      assertEquals(fresh.filter((g) => g === null).length, 0);
      const res = await curl;
      const status = await stopped;
      assertEquals(status.code, 0, a.proc.output());
      assertMatch(a.proc.output(), /bgp_withdraw .* \(draining\)/);
      assertMatch(a.proc.output(), /drained in [0-9.]+ s, 0 new flow\(s\) after the withdrawal/);
      let ok = 0;
      for (const f of out) {
        try {
          if (shas.has(await sha256File(f))) ok++;
        } catch { /* not written */ }
      }
      // The flows the router moved: picked up mid-stream by an instance that never saw their SYN.
      const resumed = [
        (await counters(net, b.control))["lb.mh_resumed"] ?? 0,
        (await counters(net, c.control))["lb.mh_resumed"] ?? 0,
      ];
      console.log(
        `downloads intact: ${ok}/20 (curl exit ${res.code}); flows resumed mid-stream by ` +
          `instance 2: ${resumed[0]}, instance 3: ${resumed[1]}`,
      );
      assert(resumed[1] > 0, "no flow moved to the added instance");
      assert(resumed[0] > 0, "no flow moved off the drained instance");
      assertEquals(res.code, 0, res.stderr);
      assertEquals(ok, 20);
    } finally {
      cleanupBgp(net);
    }
  },
  120_000,
  missing,
);

/**
 * Keep-alive echo sessions: `n` TCP connections to VIP:7, each sending 200 random bytes and
 * reading them back every 100 ms for `secs` seconds; prints JSON {ok, n}: the sessions whose
 * every echo came back intact.
 */
const ECHO_SESSIONS = `
import json, os, socket, sys, time
host, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
socks = [socket.create_connection((host, 7), timeout=10) for _ in range(n)]
ok = [True] * n
end = time.time() + secs
while time.time() < end:
    for i, s in enumerate(socks):
        if not ok[i]:
            continue
        msg = os.urandom(200)
        try:
            s.sendall(msg)
            got = b""
            while len(got) < len(msg):
                d = s.recv(len(msg) - len(got))
                if not d:
                    raise EOFError()
                got += d
            ok[i] = got == msg
        except Exception:
            ok[i] = False
    time.sleep(0.1)
print(json.dumps({"ok": sum(ok), "n": n}))
`;

netnsTest(
  "bgp: TUN (userspace real servers): 20 echo sessions survive an instance added and one killed",
  async (t) => {
    const net = await buildBgpNet(t);
    try {
      // This kernel has no ipip module: the TUN real servers are userspace hosts holding the VIP
      // without ARP and decapsulating IP-in-IP (as tests/netns/lb_tun_test.ts does).
      const reals: string[] = [];
      const procs = [];
      for (let i = 1; i <= 3; i++) {
        const tap = await t.tap(net.hub, net.br1, `tr${i}`);
        const ip = `10.77.0.${20 + i}`;
        reals.push("--real", ip);
        procs.push(t.lb(net.hub, [
          "stack",
          "--tap",
          tap,
          "--ip",
          `${ip}/24`,
          "--gateway",
          ROUTER,
          "--vip",
          VIP,
          "--serve",
          "echo:7",
          "--control",
          t.tempPath(`tr${i}.sock`),
        ]));
      }
      await Promise.all(procs.map((p) => p.waitFor("up on", 30_000)));
      const service = ["--service", `tcp:${VIP}:7`, "--scheduler", "mh", "--method", "tun"];
      const a = await startBgpInstance(net, 1, [], true, [], [...service, ...reals]);
      const b = await startBgpInstance(net, 2, [], true, [], [...service, ...reals]);
      await waitNextHops(net, [IP1, IP2]);
      const sessions = t.execOk(net.client, [PY, "-c", ECHO_SESSIONS, VIP, "20", "9"], 60_000);
      await new Promise((r) => setTimeout(r, 1500));
      const c = await startBgpInstance(net, 3, [], true, [], [...service, ...reals]);
      await waitNextHops(net, [IP1, IP2, IP3]);
      await new Promise((r) => setTimeout(r, 1000));
      a.proc.child.kill("SIGKILL");
      await waitNextHops(net, [IP2, IP3], 5000);
      const res = JSON.parse(await sessions) as { ok: number; n: number };
      const resumed = [
        (await counters(net, b.control))["lb.mh_resumed"] ?? 0,
        (await counters(net, c.control))["lb.mh_resumed"] ?? 0,
      ];
      console.log(
        `TUN echo sessions intact: ${res.ok}/${res.n}; resumed mid-session by instance 2: ` +
          `${resumed[0]}, instance 3: ${resumed[1]}`,
      );
      assertEquals(res.ok, 20);
      assert(resumed[1] > 0, "no session moved to the added instance");
    } finally {
      cleanupBgp(net);
    }
  },
  120_000,
  missing,
);
