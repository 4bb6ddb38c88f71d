/**
 * The scale-out demo (`lb.ts demo --scale-out`): tests/netns/_bgp_net.ts's network, a client
 * behind a kernel router running BIRD with multipath, three `lb.ts run --bgp` instances (mh, DR)
 * and three kernel HTTP servers. It shows the router's ECMP route (one next hop per instance),
 * spreads a few hundred connections over the instances and the real servers, kills one instance
 * with SIGKILL, times how long the router takes to drop it (BFD), shows that traffic goes on, and
 * tears everything down (also on Ctrl-C). Needs root and bird2.
 *
 * @module
 */
import { Topology } from "../tests/netns/topology.ts";
import {
  removeDirs,
  requestsFromPorts,
  startHttpServers,
  tally,
  VIP,
} from "../tests/netns/_lb_net.ts";
import {
  type BgpInstance,
  type BgpNet,
  buildBgpNet,
  cleanupBgp,
  INSTANCE_IPS,
  listJson,
  processAlive,
  startBgpInstance,
  waitNextHops,
} from "../tests/netns/_bgp_net.ts";

/** Runs the demo with `requests` connections per round; the exit code. */
export async function runScaleOutDemo(requests = 300): Promise<number> {
  const t = new Topology();
  const say = (text: string) => console.log(text);
  let net: BgpNet | undefined;
  try {
    say("# building: client 10.78.0.10 -- router (BIRD, ECMP) --+-- lb1 10.77.0.2  (TAP)");
    say("#                                                      +-- lb2 10.77.0.3  (TAP)");
    say("#                                                      +-- lb3 10.77.0.4  (TAP)");
    say("#                                                      +-- r1 r2 r3 10.77.0.11-13");
    net = await buildBgpNet(t);
    await startHttpServers(net);
    const insts: BgpInstance[] = [];
    for (const i of [1, 2, 3]) {
      insts.push(await startBgpInstance(net, i));
      say(
        `$ lb.ts run --tap ${net.taps[i]} --ip ${INSTANCE_IPS[i]}/24 --bgp 10.77.0.254,bfd ` +
          `--service tcp:${VIP}:80 --scheduler mh --method dr --real ...   # instance ${i}`,
      );
    }
    const all = INSTANCE_IPS.slice(1);
    const ms = await waitNextHops(net, all, 60_000);
    say(`\n# BGP up; the router's route to the VIP (${(ms / 1000).toFixed(1)} s):`);
    say((await t.execOk(net.router, ["ip", "route", "show", `${VIP}/32`])).trimEnd());
    // The instances read BIRD's session state twice a second.
    for (let k = 0; k < 20; k++) {
      if ((await listJson(net, insts[0])).bgp.sessions[0].info === "Established") break;
      await new Promise((r) => setTimeout(r, 250));
    }
    say("\n$ lb.ts list   # instance 1");
    say((await t.lbRun(["list", "--control", insts[0].control])).stdout.trimEnd());

    const round = async (first: number, live: BgpInstance[]) => {
      const before = await Promise.all(
        live.map(async (x) => (await listJson(net!, x)).services[0].conns),
      );
      const got = Object.values(await requestsFromPorts(net!, first, requests));
      const after = await Promise.all(
        live.map(async (x) => (await listJson(net!, x)).services[0].conns),
      );
      const ok = got.filter((g) => g !== null).length;
      say(`  ${ok} of ${requests} connections answered`);
      for (const [name, n] of Object.entries(tally(got)).sort()) {
        say(
          `  real ${name}: ${String(n).padStart(4)} ${"#".repeat(Math.round((n / requests) * 60))}`,
        );
      }
      live.forEach((x, k) => {
        const n = after[k] - before[k];
        say(
          `  lb${x.i}:     ${String(n).padStart(4)} ${"#".repeat(Math.round((n / requests) * 60))}`,
        );
      });
      return ok === requests;
    };
    say(`\n# ${requests} new connections from the client, each from its own source port:`);
    const ok1 = await round(30000, insts);

    say("\n$ kill -9 <lb3>");
    const birdPid = (await listJson(net, insts[2])).bgp.birdPid;
    const t0 = performance.now();
    insts[2].proc.child.kill("SIGKILL");
    await waitNextHops(net, all.slice(0, 2), 10_000);
    say(
      `  the router dropped lb3's next hop after ${(performance.now() - t0).toFixed(0)} ms ` +
        `(BFD 100 ms x 3); its BIRD (pid ${birdPid}) ` +
        (processAlive(birdPid) ? "is still running!" : "died with it"),
    );
    say((await t.execOk(net.router, ["ip", "route", "show", `${VIP}/32`])).trimEnd());
    say(`\n# ${requests} more connections:`);
    const ok2 = await round(40000, insts.slice(0, 2));
    return ok1 && ok2 ? 0 : 1;
  } catch (e) {
    console.error(`demo: ${e instanceof Error ? e.message : e}`);
    return 1;
  } finally {
    if (net !== undefined) cleanupBgp(net);
    await t.destroy();
    removeDirs();
    say("\n# torn down: namespaces, bridges, TAPs, BIRDs and processes removed");
  }
}

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("demo: needs root: it creates network namespaces, bridges and TAP devices");
    Deno.exit(1);
  }
  Deno.exit(await runScaleOutDemo(Number(Deno.args[0] ?? 300) || 300));
}
