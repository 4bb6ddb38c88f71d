/**
 * The demo (`lb.ts demo`, `deno task demo`, `scripts/demo.sh`): builds, in network namespaces,
 * a client behind a router, three real servers running a kernel HTTP server whose index names
 * the server, and the userspace balancer on a TAP in front of them (direct routing, round
 * robin; tests/netns/_lb_net.ts draws the network). It pings the balancer's address and the VIP,
 * sends a few hundred requests through the VIP, each on a new connection, prints how they were
 * distributed and the balancer's `list`, `list --stats` and `conns` tables, and tears everything
 * down (also on Ctrl-C). Needs root.
 *
 * @module
 */
import { Topology } from "../tests/netns/topology.ts";
import {
  buildLbNet,
  curlRequests,
  LB_IP,
  lbText,
  removeDirs,
  startBalancer,
  startHttpServers,
  tally,
  VIP,
} from "../tests/netns/_lb_net.ts";

/** What {@link runDemo} takes. */
export interface DemoOptions {
  /** HTTP requests sent through the VIP (default 300). */
  requests?: number;
}

/** Runs the demo; returns the exit code (0 when every request was answered). */
export async function runDemo(options: DemoOptions = {}): Promise<number> {
  const requests = options.requests ?? 300;
  const t = new Topology();
  const say = (text: string) => console.log(text);
  try {
    say("# building: client 10.78.0.10 -- router -- bridge -- balancer (TAP, 10.77.0.2)");
    say(`#                                             +-- real servers r1 r2 r3 (10.77.0.11-13)`);
    const net = await buildLbNet(t, 3, "dr");
    await startHttpServers(net);
    const args = [
      "--service",
      `tcp:${VIP}:80`,
      "--scheduler",
      "rr",
      "--method",
      "dr",
      ...net.reals.flatMap((r) => ["--real", r.ip]),
    ];
    say(`\n$ lb.ts run --tap ${net.tap} --ip ${LB_IP}/24 --gateway 10.77.0.254 ${args.join(" ")}`);
    const lb = await startBalancer(net, args);
    say(lb.output().trim());

    const show = async (title: string, text: Promise<string>) => {
      say(`\n$ ${title}\n${(await text).trimEnd()}`);
    };
    const ping = async (host: string) => {
      const r = await t.exec(net.client, ["ping", "-c", "2", "-i", "0.3", "-W", "2", host]);
      return (r.stdout + r.stderr).split("\n").filter((l) => /bytes from|packets/.test(l)).join(
        "\n",
      );
    };
    await show(`ping -c 2 ${LB_IP}        # the balancer is a host too`, ping(LB_IP));
    await show(`ping -c 2 ${VIP}      # it owns the VIP (ARP, ping)`, ping(VIP));

    say(`\n$ curl -H 'Connection: close' http://${VIP}/?[1-${requests}]   # from the client`);
    const started = performance.now();
    const names = await curlRequests(net, requests);
    const ms = performance.now() - started;
    const counts = tally(names);
    for (const [name, n] of Object.entries(counts).sort()) {
      say(`  ${name}: ${String(n).padStart(4)} ${"#".repeat(Math.round((n / requests) * 60))}`);
    }
    say(
      `  ${names.length} of ${requests} answered in ${(ms / 1000).toFixed(2)} s, each on a new ` +
        "TCP connection; the real servers answered the client directly",
    );
    await show("lb.ts list", lbText(net, ["list"]));
    await show("lb.ts list --stats", lbText(net, ["list", "--stats"]));
    await show(
      "lb.ts conns | head -6",
      lbText(net, ["conns"]).then((s) => s.split("\n").slice(0, 6).join("\n")),
    );
    return names.length === requests ? 0 : 1;
  } catch (e) {
    console.error(`demo: ${e instanceof Error ? e.message : e}`);
    return 1;
  } finally {
    await t.destroy();
    removeDirs();
    say("\n# torn down: namespaces, bridges, TAP and processes removed");
  }
}

if (import.meta.main) {
  if (Deno.uid() !== 0) {
    console.error("demo: needs root: it creates network namespaces, bridges and a TAP device");
    Deno.exit(1);
  }
  Deno.exit(await runDemo({ requests: Number(Deno.args[0] ?? 300) || 300 }));
}
