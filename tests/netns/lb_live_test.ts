/**
 * Live changes under traffic: while a long rate-limited download runs through the VIP
 * on one real server and a client loops new requests, servers are added, edited and deleted and
 * a second service is added and deleted. The download completes with the right sha256 (an
 * established flow keeps its server, as IPVS keeps its connection entry); new requests follow
 * each change at once; and deleting a download's own server does break that flow, because its
 * entries are removed with the server (IPVS expire_nodest_conn). The file's health checks run
 * all along, and `save` prints them.
 */
import { assert, assertEquals } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import {
  buildLbNet,
  curlRequests,
  lbJson,
  type LbNet,
  lbText,
  removeDirs,
  sha256File,
  startBalancerFromConfig,
  startHttpServers,
  tally,
  VIP,
  writeBigFile,
} from "./_lb_net.ts";

const SVC = ["-t", `${VIP}:80`];

/** Runs an admin verb against the balancer, failing on a non-zero exit. */
async function admin(net: LbNet, args: string[]): Promise<void> {
  const r = await net.t.lbRun([...args, "--control", net.control]);
  if (r.code !== 0) throw new Error(`lb.ts ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
}

/** A rate-limited download of `/big` from the client into `out` (bounded by `maxSeconds`). */
function download(net: LbNet, out: string, maxSeconds: number) {
  return net.t.exec(net.client, [
    "curl",
    "-sS",
    "--max-time",
    String(maxSeconds),
    "--limit-rate",
    "1M",
    "-o",
    out,
    `http://${VIP}/big`,
  ], (maxSeconds + 10) * 1000);
}

/** The real servers the balancer's table holds flows to. */
async function flowReals(net: LbNet): Promise<Set<string>> {
  const c = await lbJson<{ entries: { real: string }[] }>(net, ["conns"]);
  return new Set(c.entries.map((e) => e.real.split(":")[0]));
}

netnsTest("live add/edit/delete under traffic keeps established flows", async (t) => {
  try {
    const net = await buildLbNet(t, 4, "dr");
    // A small receive buffer, so --limit-rate paces the transfer on the wire.
    await t.execOk(net.client, ["sysctl", "-qw", "net.ipv4.tcp_rmem=4096 65536 131072"]);
    writeBigFile(net, "big", 10 << 20);
    const want1 = await sha256File(`${net.reals[0].dir}/big`);
    const want2 = await sha256File(`${net.reals[1].dir}/big`);
    await startHttpServers(net);
    const file = t.tempPath("lb.json");
    Deno.writeTextFileSync(
      file,
      JSON.stringify({
        // Health checks from the file run through every change (and `save` keeps them).
        health: { check: "http:/:200", interval: 0.5, rise: 1, fall: 2 },
        services: [{
          protocol: "tcp",
          vip: VIP,
          port: 80,
          scheduler: "rr",
          reals: [{ address: "10.77.0.11" }, { address: "10.77.0.12" }, {
            address: "10.77.0.13",
          }],
        }],
      }),
    );
    const lb = await startBalancerFromConfig(net, file);

    // rr: the first flow goes to r1 (kept to the end), the second to r2 (its server is deleted).
    const out1 = t.tempPath("big1.out");
    const out2 = t.tempPath("big2.out");
    const keep = download(net, out1, 25);
    await new Promise((r) => setTimeout(r, 300));
    const doomed = download(net, out2, 14);
    await new Promise((r) => setTimeout(r, 300));
    assertEquals(await flowReals(net), new Set(["10.77.0.11", "10.77.0.12"]));

    await admin(net, ["add-server", ...SVC, "-r", "10.77.0.14", "-g", "-w", "1"]);
    assertEquals(tally(await curlRequests(net, 4)), { r1: 1, r2: 1, r3: 1, r4: 1 });

    await admin(net, ["edit-server", ...SVC, "-r", "10.77.0.11", "-w", "0"]);
    assertEquals(tally(await curlRequests(net, 6)), { r2: 2, r3: 2, r4: 2 });

    await admin(net, ["del-server", ...SVC, "-r", "10.77.0.13"]);
    assertEquals(tally(await curlRequests(net, 4)), { r2: 2, r4: 2 });

    // A second service comes and goes without touching the first.
    await admin(net, ["add-service", "-t", `${VIP}:8080`, "-s", "rr"]);
    await admin(net, ["add-server", "-t", `${VIP}:8080`, "-r", "10.77.0.14", "-g", "-w", "1"]);
    assert((await lbText(net, ["list"])).includes(`${VIP}:8080`));
    await admin(net, ["del-service", "-t", `${VIP}:8080`]);
    assert(!(await lbText(net, ["list"])).includes(`${VIP}:8080`));
    assertEquals(tally(await curlRequests(net, 2)), { r2: 1, r4: 1 });

    // Deleting r2 removes its flows: the second download breaks, new requests avoid r2.
    await admin(net, ["del-server", ...SVC, "-r", "10.77.0.12"]);
    assert(!(await flowReals(net)).has("10.77.0.12"), "r2's entries are removed");
    assertEquals(tally(await curlRequests(net, 3)), { r4: 3 });

    const save = await net.t.lbRun(["save", "--control", net.control]);
    assertEquals(save.code, 0, save.stderr);
    const saved = JSON.parse(save.stdout);
    assertEquals(saved.health, {
      check: "http:/:200",
      interval: 0.5,
      timeout: 0.5,
      rise: 1,
      fall: 2,
    });
    assert(!(await lbText(net, ["list"])).includes("DOWN"), "every server passes its check");

    const r1 = await keep;
    assertEquals(r1.code, 0, r1.stderr);
    assertEquals(await sha256File(out1), want1, "the kept download is whole and from r1");
    const r2 = await doomed;
    assert(r2.code !== 0, "the download from the deleted server does not complete");
    let got2 = "";
    try {
      got2 = await sha256File(out2);
    } catch { /* curl may not have written the file */ }
    assert(got2 !== want2, "r2's file was not delivered whole");
    await lb.stop();
  } finally {
    removeDirs();
  }
}, 60_000);
