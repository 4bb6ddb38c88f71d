/**
 * `deno task bench:bgp [--runs N] [--hold-runs N] [--hold S]`: how long the router keeps sending
 * to a balancer instance that was killed with SIGKILL, and how many long-lived flows that costs.
 * Root; builds tests/netns/_bgp_net.ts's network (client, kernel router with BIRD multipath,
 * three kernel DR real servers, `lb.ts run --bgp` instances with `mh`) and tears it down.
 *
 * Each run: two instances announce the VIP (ECMP, two next hops); 20 downloads of 2 MiB at
 * 400 KB/s start; after 1.5 s one instance is killed with SIGKILL; the failover time is from the
 * kill until the router's kernel route has only the survivor (polled every ~10 ms, so figures
 * are ~10 ms coarse); BIRD's exit (parent-death signal) is timed the same way; a download is lost
 * when curl fails or its SHA-256 is not one of the real servers' files. The killed instance is
 * restarted for the next run. With BFD (100 ms x 3) `--runs` times (default 5), then without BFD
 * `--hold-runs` times (default 2) with the router's hold time set to `--hold` seconds (default 9;
 * BIRD's default is 240), where only the hold timer notices.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Topology } from "../../tests/netns/topology.ts";
import { sha256File, startHttpServers, VIP, writeBigFile } from "../../tests/netns/_lb_net.ts";
import {
  type BgpInstance,
  type BgpNet,
  buildBgpNet,
  cleanupBgp,
  INSTANCE_IPS,
  listJson,
  processAlive,
  reconfigureRouter,
  routerConfig,
  startBgpInstance,
  waitNextHops,
} from "../../tests/netns/_bgp_net.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "5" },
    "hold-runs": { type: "string", default: "2" },
    hold: { type: "string", default: "9" },
  },
});
const RUNS = Number(values.runs);
const HOLD_RUNS = Number(values["hold-runs"]);
const HOLD_S = Number(values.hold);
const DOWNLOADS = 20;

interface RunResult {
  failoverMs: number;
  birdGoneMs: number;
  lost: number;
}

/** Milliseconds until PID has died (gone, or a zombie waiting to be reaped; bounded: 5 s). */
async function goneAfter(pid: number, t0: number): Promise<number> {
  for (let i = 0; i < 500; i++) {
    if (!processAlive(pid)) return performance.now() - t0;
    await new Promise((r) => setTimeout(r, 5));
  }
  return NaN;
}

async function oneRun(
  net: BgpNet,
  insts: BgpInstance[],
  victim: number,
  shas: Set<string>,
  bfd: boolean,
  n: number,
): Promise<RunResult> {
  const t = net.t;
  await waitNextHops(net, [INSTANCE_IPS[1], INSTANCE_IPS[2]], 60_000);
  const out = Array.from({ length: DOWNLOADS }, (_, i) => t.tempPath(`b${n}dl${i}`));
  const args = ["-sS", "--parallel", "--parallel-immediate", "--parallel-max", "20"];
  args.push("--limit-rate", "400k");
  for (const f of out) args.push("--max-time", "60", "-o", f, `http://${VIP}/big`);
  const curl = t.exec(net.client, ["curl", ...args], 90_000);
  await new Promise((r) => setTimeout(r, 1500));
  const v = insts[victim];
  const birdPid = (await listJson(net, v)).bgp.birdPid;
  const t0 = performance.now();
  v.proc.child.kill("SIGKILL");
  const birdGone = goneAfter(birdPid, t0);
  await waitNextHops(net, [INSTANCE_IPS[victim === 1 ? 2 : 1]], 60_000);
  const failoverMs = performance.now() - t0;
  const birdGoneMs = await birdGone;
  await curl;
  let ok = 0;
  for (const f of out) {
    try {
      if (shas.has(await sha256File(f))) ok++;
    } catch { /* not written */ }
  }
  insts[victim] = await startBgpInstance(net, victim, [], bfd);
  return { failoverMs, birdGoneMs, lost: DOWNLOADS - ok };
}

function summary(name: string, rs: RunResult[]): string {
  const f = rs.map((r) => r.failoverMs).sort((a, b) => a - b);
  const median = f.length % 2 ? f[(f.length - 1) / 2] : (f[f.length / 2 - 1] + f[f.length / 2]) / 2;
  return `| ${name} | ${rs.length} | ${median.toFixed(0)} | ${f[f.length - 1].toFixed(0)} | ` +
    `${rs.map((r) => r.failoverMs.toFixed(0)).join(", ")} | ` +
    `${Math.max(...rs.map((r) => r.birdGoneMs)).toFixed(0)} | ` +
    `${rs.map((r) => r.lost).join(", ")} of ${DOWNLOADS} |`;
}

const t = new Topology();
try {
  const net = await buildBgpNet(t);
  try {
    writeBigFile(net, "big", 2 << 20);
    const shas = new Set(await Promise.all(net.reals.map((r) => sha256File(`${r.dir}/big`))));
    await startHttpServers(net);
    const insts: BgpInstance[] = [];
    insts[1] = await startBgpInstance(net, 1);
    insts[2] = await startBgpInstance(net, 2);
    const bfdRuns: RunResult[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await oneRun(net, insts, 1 + (i % 2), shas, true, i);
      console.error(`bfd run ${i + 1}: ${JSON.stringify(r)}`);
      bfdRuns.push(r);
    }
    const holdRuns: RunResult[] = [];
    if (HOLD_RUNS > 0) {
      // Without BFD on either side; the hold time the router offers is the one both use.
      await reconfigureRouter(net, routerConfig(net.birdLog, false, HOLD_S));
      for (const i of [1, 2]) {
        await insts[i].proc.stop("SIGTERM", 40_000);
        insts[i] = await startBgpInstance(net, i, [], false);
      }
      for (let i = 0; i < HOLD_RUNS; i++) {
        const r = await oneRun(net, insts, 1 + (i % 2), shas, false, 100 + i);
        console.error(`hold run ${i + 1}: ${JSON.stringify(r)}`);
        holdRuns.push(r);
      }
    }
    console.log(
      "| detection | runs | failover median ms | max ms | each run ms | BIRD gone after (max ms) | " +
        "downloads lost per run |",
    );
    console.log("| --- | --- | --- | --- | --- | --- | --- |");
    console.log(summary("BFD 100 ms x 3", bfdRuns));
    if (holdRuns.length > 0) console.log(summary(`BGP hold time ${HOLD_S} s, no BFD`, holdRuns));
  } finally {
    cleanupBgp(net);
  }
} finally {
  await t.destroy();
}
