/**
 * The demo topology: a kernel host (namespace k1, 10.77.0.1) and the userspace host (lb.ts stack
 * on a TAP, 10.77.0.2) on one bridge. The kernel pings the userspace host, the userspace host
 * pings back, and the host's ARP cache, routes and counters are printed. Everything is torn down
 * at the end, also on Ctrl-C.
 */
import { Topology } from "../tests/netns/topology.ts";

if (Deno.uid() !== 0) {
  console.error("demo: needs root: it creates network namespaces, a bridge and a TAP device");
  Deno.exit(1);
}

const t = new Topology();
try {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const br = await t.bridge(hub, "br");
  await t.attach(k1, hub, br, "eth0", "10.77.0.1/24");
  const tap = await t.tap(hub, br);
  const control = t.tempPath("ctl.sock");
  console.log(`# namespaces ${hub} (bridge ${br}, TAP ${tap}) and ${k1} (kernel host 10.77.0.1)`);
  const host = t.lb(hub, ["stack", "--tap", tap, "--ip", "10.77.0.2/24", "--control", control]);
  await host.waitFor("up on", 20_000);
  console.log(host.output().trim());

  const show = async (title: string, cmd: Promise<{ stdout: string; stderr: string }>) => {
    const r = await cmd;
    console.log(`\n$ ${title}\n${(r.stdout + r.stderr).trimEnd()}`);
  };
  await show(
    `ip netns exec ${k1} ping -c 3 10.77.0.2`,
    t.exec(k1, ["ping", "-c", "3", "-i", "0.3", "10.77.0.2"]),
  );
  await show(
    `ip netns exec ${k1} ping -c 2 -s 4000 10.77.0.2   # fragmented both ways`,
    t.exec(k1, ["ping", "-c", "2", "-i", "0.3", "-s", "4000", "10.77.0.2"]),
  );
  await show(
    "lb.ts ping -c 3 10.77.0.1",
    t.lbRun(["ping", "-c", "3", "-i", "0.3", "--control", control, "10.77.0.1"]),
  );
  await show("lb.ts arp", t.lbRun(["arp", "--control", control]));
  await show("lb.ts route", t.lbRun(["route", "--control", control]));
  await show("lb.ts stats", t.lbRun(["stats", "--control", control]));
} finally {
  await t.destroy();
  console.log("\n# torn down");
}
