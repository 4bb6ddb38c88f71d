/**
 * Live control of a running balancer (cli/commands/lb_admin.ts) in front of kernel DR real
 * servers: started from a `--config` file, servers are added, edited and deleted with the
 * ipvsadm-like verbs and `list` and the requests through the VIP follow at once; `save` then
 * `run --config` of the saved file gives the same `list`; persistence keeps a client on one
 * server; `reload` and SIGHUP apply a changed file, and an invalid one is refused, keeping the
 * running configuration. An instance started with no service is an empty director that
 * add-service fills; zero and set change counters and timeouts live.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import {
  buildLbNet,
  curlRequests,
  lbJson,
  type LbNet,
  lbText,
  removeDirs,
  startBalancerFromConfig,
  startHttpServers,
  startLb,
  tally,
  VIP,
} from "./_lb_net.ts";

const SVC = ["-t", `${VIP}:80`];

/** Runs an admin verb against the balancer; returns its stdout, failing on a non-zero exit. */
async function admin(net: LbNet, args: string[]): Promise<string> {
  const r = await net.t.lbRun([...args, "--control", net.control]);
  if (r.code !== 0) throw new Error(`lb.ts ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** `list` with the live connection counts masked (a restarted balancer has none yet). */
function listShape(text: string): string {
  return text.replace(/^( {2}-> \S+ +\S+ +\d+) +\d+ +\d+ *$/gm, "$1");
}

netnsTest("admin verbs change a running balancer; save -> run --config; reload", async (t) => {
  try {
    const net = await buildLbNet(t, 3, "dr");
    await startHttpServers(net);
    const file = t.tempPath("lb.json");
    Deno.writeTextFileSync(
      file,
      JSON.stringify({
        services: [{
          protocol: "tcp",
          vip: VIP,
          port: 80,
          scheduler: "rr",
          reals: [{ address: "10.77.0.11" }, { address: "10.77.0.12" }],
        }],
      }),
    );
    let lb = await startBalancerFromConfig(net, file);
    assertEquals(tally(await curlRequests(net, 4)), { r1: 2, r2: 2 });

    await admin(net, ["add-server", ...SVC, "-r", "10.77.0.13", "-g", "-w", "1"]);
    assertEquals(tally(await curlRequests(net, 6)), { r1: 2, r2: 2, r3: 2 });

    await admin(net, ["edit-server", ...SVC, "-r", "10.77.0.11", "-w", "0"]);
    let list = await lbText(net, ["list"]);
    assertMatch(list, /^ {2}-> 10\.77\.0\.11:80 +Route +0 /m);
    assertEquals(tally(await curlRequests(net, 4)), { r2: 2, r3: 2 });

    assertEquals(
      await admin(net, ["del-server", ...SVC, "-r", "10.77.0.12"]),
      "lb.ts: deleted server 10.77.0.12 from tcp 10.77.0.100:80\n",
    );
    await admin(net, ["edit-service", ...SVC, "-s", "wrr", "-p", "120"]);
    list = await lbText(net, ["list"]);
    assert(!list.includes("10.77.0.12"), list);
    assertMatch(list, /^TCP {2}10\.77\.0\.100:80 wrr/m);
    assertEquals(tally(await curlRequests(net, 3)), { r3: 3 });
    // A mistake is refused with a reason, exit 1.
    const bad = await t.lbRun(["del-server", ...SVC, "-r", "10.77.0.12", "--control", net.control]);
    assertEquals(bad.code, 1);
    assertMatch(bad.stderr, /no real server 10\.77\.0\.12 in tcp 10\.77\.0\.100:80/);

    // save -> run --config of the saved file: the same list.
    const saved = t.tempPath("saved.json");
    Deno.writeTextFileSync(saved, await admin(net, ["save"]));
    const before = listShape(await lbText(net, ["list"]));
    await lb.stop();
    lb = await startBalancerFromConfig(net, saved);
    assertEquals(listShape(await lbText(net, ["list"])), before);
    assertEquals(tally(await curlRequests(net, 2)), { r3: 2 });

    // reload: a changed file applies as a diff; an invalid one is refused.
    const cfg = JSON.parse(Deno.readTextFileSync(saved));
    cfg.services[0].reals.push({ address: "10.77.0.12", weight: 2, method: "dr" });
    Deno.writeTextFileSync(saved, JSON.stringify(cfg));
    assertMatch(
      await admin(net, ["reload"]),
      /reloaded, 1 change\(s\)\n.*added server 10\.77\.0\.12/,
    );
    list = await lbText(net, ["list"]);
    assertMatch(list, /^ {2}-> 10\.77\.0\.12:80 +Route +2 /m);
    // Persistence (-p 120, kept through save): one client stays on one server.
    const pinned = tally(await curlRequests(net, 6));
    assertEquals(Object.values(pinned), [6], JSON.stringify(pinned));
    // SIGHUP does what reload does.
    cfg.services[0].reals[2].weight = 3;
    Deno.writeTextFileSync(saved, JSON.stringify(cfg));
    lb.child.kill("SIGHUP");
    await lb.waitFor("reloaded", 10_000);
    // The instance logs the change: "TS reloaded FILE: 1 change(s)" (plain --log-format).
    assertMatch(lb.output(), /Z reloaded \S+: 1 change\(s\)/);
    list = await lbText(net, ["list"]);
    assertMatch(list, /^ {2}-> 10\.77\.0\.12:80 +Route +3 /m);
    // A reload that adds "health" starts the checks (the real servers answer TCP, so they stay
    // up); save shows them; a reload that removes them stops them.
    cfg.health = { check: "tcp", interval: 0.2, rise: 1, fall: 1 };
    Deno.writeTextFileSync(saved, JSON.stringify(cfg));
    assertMatch(await admin(net, ["reload"]), /reloaded, 1 change\(s\)\n.*health checks changed/);
    assertMatch(await admin(net, ["save"]), /"health": \{\s*"check": "tcp",\s*"interval": 0\.2/);
    await new Promise((r) => setTimeout(r, 600));
    assert(!/DOWN/.test(await lbText(net, ["list"])), "servers that answer stay up");
    delete cfg.health;
    Deno.writeTextFileSync(saved, JSON.stringify(cfg));
    assertMatch(await admin(net, ["reload"]), /health checks removed/);
    list = await lbText(net, ["list"]);
    Deno.writeTextFileSync(saved, '{"services": [{"protocol": "tcp", "vip": "10.77.0.100"}]}');
    const refused = await t.lbRun(["reload", "--control", net.control]);
    assertEquals(refused.code, 1);
    assertMatch(refused.stderr, /lbt-saved\.json-\S+: \$\.services\[0\]: missing key port/);
    assertEquals(await lbText(net, ["list"]), list);
    await lb.stop();
  } finally {
    removeDirs();
  }
}, 60_000);

netnsTest("an empty director filled with add-service; zero and set change it live", async (t) => {
  try {
    const net = await buildLbNet(t, 2, "dr");
    await startHttpServers(net);
    // No --service: the director starts empty (as ipvsadm is used) and the VIP is not yet ours.
    await startLb(net, []);
    assertEquals((await lbJson<{ services: unknown[] }>(net, ["list"])).services, []);
    await admin(net, ["add-service", ...SVC, "-s", "rr"]);
    await admin(net, ["add-server", ...SVC, "-r", "10.77.0.11", "-g"]);
    await admin(net, ["add-server", ...SVC, "-r", "10.77.0.12", "-g"]);
    assertEquals(tally(await curlRequests(net, 4)), { r1: 2, r2: 2 });
    type Snap = { services: { conns: number; packetsIn: number }[] };
    const before = (await lbJson<Snap>(net, ["list"])).services[0];
    assertEquals(before.conns, 4);
    assert(before.packetsIn >= 4 * 5, JSON.stringify(before));
    // zero (ipvsadm -Z): the counters start again; the service and its servers stay.
    assertEquals(await admin(net, ["zero"]), "lb.ts: zeroed the counters of 1 service(s)\n");
    const after = (await lbJson<Snap>(net, ["list"])).services[0];
    assertEquals([after.conns, after.packetsIn], [0, 0]);
    assertEquals(tally(await curlRequests(net, 2)), { r1: 1, r2: 1 });
    // set (ipvsadm --set): timeouts change live; save shows them; bad values change nothing.
    assertEquals(
      await admin(net, ["set", "--tcp", "60", "--udp", "30"]),
      "lb.ts: timeouts set: tcp 60 s, udp 30 s\n",
    );
    assertMatch(
      await admin(net, ["save"]),
      /"timeouts": \{\s*"tcp": 60,\s*"tcpfin": 120,\s*"udp": 30/,
    );
    const bad = await t.lbRun(["set", "--tcp", "soon", "--control", net.control]);
    assertEquals(bad.code, 2);
    assertMatch(bad.stderr, /set --tcp/);
    assertMatch(await admin(net, ["save"]), /"tcp": 60/);
  } finally {
    removeDirs();
  }
});
