/**
 * The side-by-side benchmark (`deno task bench:lb`; needs root): in one run, on one namespace
 * topology (scripts/bench/_compare_net.ts), each of these in turn in front of the same two nginx
 * real servers:
 *
 * - direct to one real server (the baseline);
 * - the kernel's L4 datapath, DR and NAT: IPVS where the kernel has it; this machine's kernel has
 *   none, so the nftables equivalents (netdev ingress MAC rewrite + `fwd` for DR, `dnat` with
 *   `numgen` for NAT), and the table says so;
 * - nginx as an HTTP reverse proxy (L7), nginx `stream` and haproxy `mode tcp` (L4 proxies that
 *   still terminate TCP);
 * - `lb.ts run` with `--method dr` and `--method nat`.
 *
 * For each: wrk requests per second with p50/p99 latency for a 100-byte file, keep-alive and a new
 * connection per request; wrk goodput of 1 MiB responses; iperf3 download throughput through the
 * VIP; the balancer's CPU time per request (its processes; the kernel datapaths run in softirq, so
 * for every row the whole machine's busy time per request is given too); and, with `--conns N`,
 * held concurrency with hold_conns.c. It prints the tables and writes them into docs/BENCHMARKS.md
 * between markers, with the date, the machine and the command; everything it made is torn down,
 * also on Ctrl-C.
 *
 * usage: scripts/deno run -A scripts/bench/lb_compare.ts [--seconds S] [--threads N] [--conns N[,N...]]
 *        [--only KEY,...] [--no-write]
 *
 * @module
 */

import { parseArgs } from "node:util";
import { DENO, LB_TS, type Proc, Topology } from "../../tests/netns/topology.ts";
import { type Cmd, own, type OwnExecutable, startProgram } from "../../tests/programs.ts";
import {
  addProxySources,
  buildCompareNet,
  CLIENT_IPS,
  type CompareNet,
  destroyNet,
  flushNft,
  haproxyConf,
  hardFdLimit,
  HTTP_PORT,
  IPERF_PORT,
  LB_IP,
  LB_MAC,
  nftDr,
  nftNat,
  nginxL7Conf,
  nginxStreamConf,
  placeBalancer,
  type ProxyOptions,
  ROUTER,
  routeRealsVia,
  startRealNginx,
  VIP,
  waitListening,
} from "./_compare_net.ts";
import {
  type HoldResult,
  type IperfResult,
  machineBusySeconds,
  runIperf,
  runWrk,
  treeCpuSeconds,
  treeRssKiB,
} from "./_load.ts";
import {
  formatReport,
  type HoldFigures,
  type Measured,
  type Row,
  writeReport,
} from "./_compare_report.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** One balancer under test. */
interface Mode {
  key: string;
  label: string;
  /** Where the real servers' default route points. */
  realsVia: string;
  /** The kb namespace (true) or lb.ts's TAP (false) holds the balancer's address. */
  kernelPlace: boolean;
  /** Starts it; returns its process (undefined for a pure kernel datapath). */
  start(net: CompareNet, o: StartOptions): Promise<Proc | undefined>;
  /** The address clients connect to. */
  target(net: CompareNet): string;
  /** Not run in the held-concurrency phase (a variant whose holding is the same). */
  skipHold?: boolean;
}

/** How a balancer is started: as for the rate runs, or set up to hold many connections. */
interface StartOptions {
  proxy: ProxyOptions;
}

interface Options {
  seconds: number;
  /** wrk threads. */
  threads: number;
  /** Held-concurrency steps, ascending (empty: none). */
  conns: number[];
  only: string[] | null;
  write: boolean;
}

/** nginx in the foreground with config file `f`. */
const nginxCmd = (f: string): Cmd => ["nginx", "-c", f, "-g", "daemon off;"];

/** Writes a config file, starts its server in kb and waits until it listens on the VIP. */
async function spawnConf(
  net: CompareNet,
  name: string,
  text: string,
  cmd: (f: string) => Cmd,
): Promise<Proc> {
  const file = `${net.dir}/${name}`;
  Deno.writeTextFileSync(file, text);
  const p = net.t.spawn(net.kb, cmd(file));
  try {
    await waitListening(net.t, net.kb, HTTP_PORT);
  } catch (e) {
    throw new Error(`${(e as Error).message}; ${cmd(file)[0]} said: ${p.output()}`);
  }
  return p;
}

async function startLbTs(
  net: CompareNet,
  method: "dr" | "nat",
  offload: boolean,
): Promise<Proc> {
  const reals = net.reals.flatMap((r) => ["--real", r.ip]);
  const args = [
    "run",
    "--tap",
    net.tap,
    "--ip",
    `${LB_IP}/24`,
    "--gateway",
    ROUTER,
    "--mac",
    LB_MAC,
    "--control",
    `${net.dir}/lb.sock`,
    "--max-conns",
    "2000000",
    ...(offload ? [] : ["--no-offload"]), // offloads are on by default
    "--service",
    `tcp:${VIP}:${HTTP_PORT}`,
    "--scheduler",
    "rr",
    "--method",
    method,
    ...reals,
    "--service",
    `tcp:${VIP}:${IPERF_PORT}`,
    "--scheduler",
    "rr",
    "--method",
    method,
    "--real",
    net.reals[0].ip,
  ];
  const p = net.t.spawn(net.hub, [DENO, "run", "--allow-ffi", LB_TS, ...args], { NO_COLOR: "1" });
  await p.waitFor("up on", 30_000);
  return p;
}

const MODES: Mode[] = [
  {
    key: "direct",
    label: "direct to one real server",
    realsVia: ROUTER,
    kernelPlace: true,
    start: () => Promise.resolve(undefined),
    target: (net) => net.reals[0].ip,
  },
  {
    key: "kernel-dr",
    label: "kernel DR (nftables netdev fwd; no IPVS here)",
    realsVia: ROUTER,
    kernelPlace: true,
    start: async (net) => {
      await nftDr(net);
      return undefined;
    },
    target: () => VIP,
  },
  {
    key: "kernel-nat",
    label: "kernel NAT (nftables dnat numgen; no IPVS here)",
    realsVia: LB_IP,
    kernelPlace: true,
    start: async (net) => {
      await nftNat(net);
      return undefined;
    },
    target: () => VIP,
  },
  {
    key: "nginx-l7",
    label: "nginx HTTP proxy (L7)",
    realsVia: ROUTER,
    kernelPlace: true,
    start: (net, o) =>
      spawnConf(
        net,
        "l7.conf",
        nginxL7Conf(net, o.proxy),
        nginxCmd,
      ),
    target: () => VIP,
  },
  {
    key: "nginx-stream",
    label: "nginx stream (L4 proxy)",
    realsVia: ROUTER,
    kernelPlace: true,
    start: (net, o) =>
      spawnConf(
        net,
        "stream.conf",
        nginxStreamConf(net, o.proxy),
        nginxCmd,
      ),
    target: () => VIP,
  },
  {
    key: "haproxy",
    label: "haproxy mode tcp (L4 proxy)",
    realsVia: ROUTER,
    kernelPlace: true,
    start: (net) =>
      spawnConf(
        net,
        "haproxy.cfg",
        haproxyConf(net, hardFdLimit()),
        (f) => ["haproxy", "-db", "-f", f],
      ),
    target: () => VIP,
  },
  {
    key: "lbts-dr",
    label: "lb.ts dr",
    realsVia: ROUTER,
    kernelPlace: false,
    start: (net) => startLbTs(net, "dr", true),
    target: () => VIP,
  },
  {
    key: "lbts-nat",
    label: "lb.ts nat",
    realsVia: LB_IP,
    kernelPlace: false,
    start: (net) => startLbTs(net, "nat", true),
    target: () => VIP,
  },
  {
    // The "before" of the offload work: the same balancer reading 1514-byte frames.
    key: "lbts-nat-plain",
    label: "lb.ts nat --no-offload",
    skipHold: true,
    realsVia: LB_IP,
    kernelPlace: false,
    start: (net) => startLbTs(net, "nat", false),
    target: () => VIP,
  },
];

function parseOptions(): Options {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      seconds: { type: "string", default: "6" },
      threads: { type: "string", default: "2" },
      conns: { type: "string", default: "50000,200000,400000" },
      only: { type: "string" },
      "no-write": { type: "boolean", default: false },
    },
    strict: true,
  });
  const seconds = Number(values.seconds);
  const conns = values.conns === "0" ? [] : values.conns.split(",").map(Number);
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > 120) {
    throw new Error(`--seconds: "${values.seconds}" is not a whole number in 1..120`);
  }
  if (conns.some((n) => !Number.isInteger(n) || n < 1 || n > 500_000)) {
    throw new Error(
      `--conns: "${values.conns}" is not 0 or a list of whole numbers in 1..500000 ` +
        "(8 client addresses give about 500,000 ports)",
    );
  }
  conns.sort((a, b) => a - b);
  const only = values.only === undefined ? null : values.only.split(",");
  for (const k of only ?? []) {
    if (!MODES.some((m) => m.key === k)) {
      throw new Error(`--only: unknown balancer "${k}" (${MODES.map((m) => m.key).join(", ")})`);
    }
  }
  const threads = Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 16) {
    throw new Error(`--threads: "${values.threads}" is not a whole number in 1..16`);
  }
  return { seconds, threads, conns, only, write: !values["no-write"] };
}

/** Installs the load tools and servers this benchmark drives (idempotent). */
async function installTools(holdConns: boolean): Promise<void> {
  const r = await startProgram(["bash", `${ROOT}scripts/setup.sh`, "--bench"], {
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!r.success) throw new Error("scripts/setup.sh --bench failed");
  if (!holdConns) return;
  const gcc = await startProgram([
    "gcc",
    "-O2",
    "-Wall",
    "-Wextra",
    "-o",
    `${ROOT}.tmp/bench/hold_conns`,
    `${ROOT}scripts/bench/hold_conns.c`,
  ]).output();
  if (!gcc.success) throw new Error(`gcc hold_conns.c: ${new TextDecoder().decode(gcc.stderr)}`);
}

const say = (s: string) => console.error(s);
const firstLine = (e: unknown) => (e as Error).message.split("\n")[0];

/** Gives the balancer's place to `mode`, routes the real servers for it and starts it. */
async function prepare(net: CompareNet, mode: Mode, o: StartOptions): Promise<Proc | undefined> {
  await flushNft(net);
  await routeRealsVia(net, mode.realsVia);
  await placeBalancer(net, mode.kernelPlace);
  return await mode.start(net, o);
}

/** Stops what {@link prepare} started. */
async function finish(net: CompareNet, proc: Proc | undefined): Promise<void> {
  if (proc !== undefined) await proc.stop("SIGTERM", 10_000);
  await flushNft(net);
}

/** Measures one balancer's rates and throughput; returns its row. */
async function measure(net: CompareNet, mode: Mode, opts: Options): Promise<Measured> {
  const t = net.t;
  const proc = await prepare(net, mode, {
    proxy: { workers: 1, sourcePool: false },
  });
  const host = mode.target(net);
  try {
    // Warm-up: ARP, the servers' first accept, JIT.
    await runWrk(t, net.client, {
      url: `http://${host}/small`,
      seconds: 1,
      connections: 8,
      threads: opts.threads,
    });
    const cpu = () => proc === undefined ? 0 : treeCpuSeconds(proc.pid);
    const url = `http://${host}/small`;
    const keepAlive = await runWrk(t, net.client, {
      url,
      seconds: opts.seconds,
      connections: 50,
      threads: opts.threads,
    });
    const cpu0 = cpu();
    const busy0 = machineBusySeconds();
    const newConn = await runWrk(t, net.client, {
      url,
      seconds: opts.seconds,
      connections: 50,
      threads: opts.threads,
      close: true,
    });
    const cpuPerReq = (cpu() - cpu0) / newConn.requests * 1e6;
    const busyPerReq = (machineBusySeconds() - busy0) / newConn.requests * 1e6;
    const big = await runWrk(t, net.client, {
      url: `http://${host}/1m`,
      seconds: opts.seconds,
      connections: 8,
      threads: opts.threads,
    });
    let iperf: IperfResult | null = null;
    if (mode.key !== "nginx-l7") {
      iperf = await runIperf(t, net.client, host, IPERF_PORT, opts.seconds);
    }
    return {
      key: mode.key,
      label: mode.label,
      keepAlive,
      newConn,
      big,
      iperf,
      cpuUsPerReq: proc === undefined ? null : cpuPerReq,
      machineUsPerReq: busyPerReq,
      holds: [],
    };
  } finally {
    await finish(net, proc);
  }
}

/**
 * Held concurrency through one balancer: `n` connections from every client address, held, then
 * one request on each. Proxies get enough workers for the per-process descriptor limit and a
 * pool of source addresses; lb.ts and the kernel need nothing per connection.
 */
async function measureHold(net: CompareNet, mode: Mode, n: number): Promise<HoldFigures> {
  const workers = Math.ceil((2 * n) / (hardFdLimit() - 2000)) + 1;
  const proc = await prepare(net, mode, {
    proxy: { workers, sourcePool: true },
  });
  try {
    const before = proc === undefined ? 0 : treeRssKiB(proc.pid);
    const { hold, rssKiB } = await holdConns(net, mode.target(net), n, proc);
    if (!mode.kernelPlace) await sayDrops(net);
    // A proxy closes its own upstream connections (and keeps some alive on purpose).
    const proxy = mode.kernelPlace && proc !== undefined;
    if (!proxy) await waitServersQuiet(net);
    return { n, hold, rssKiB, rssBeforeKiB: proc === undefined ? null : before };
  } finally {
    await finish(net, proc);
  }
}

/**
 * Waits (at most 30 s) until the real servers have closed the held connections: the client's
 * closing packets cross the balancer, and stopping it early would leave the servers retrying
 * 200 k FINs into the next balancer's run.
 */
async function waitServersQuiet(net: CompareNet): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    let open = 0;
    for (const r of net.reals) {
      const st = await net.t.exec(r.ns, ["cat", "/proc/net/sockstat"]);
      const m = st.stdout.match(/^TCP: inuse (\d+) orphan (\d+)/m);
      if (m !== null) open += Number(m[1]) + Number(m[2]);
    }
    if (open < 1000) return;
    await new Promise((res) => setTimeout(res, 500));
  }
  say("  (the real servers still hold connections after 30 s)");
}

/** Prints lb.ts's drop counters and device drops (what to look at when a figure is low). */
async function sayDrops(net: CompareNet): Promise<void> {
  const r = await net.t.lbRun(["stats", "--json", "--control", `${net.dir}/lb.sock`]);
  if (r.code !== 0) return;
  const snap = JSON.parse(r.stdout) as {
    device: Record<string, number>;
    counters: Record<string, number>;
  };
  const drops = Object.entries(snap.counters).filter(([k, v]) => k.startsWith("drop.") && v > 0);
  say(
    `  lb.ts drops: ${drops.map(([k, v]) => `${k} ${v}`).join(", ") || "none"}; device ${
      JSON.stringify(snap.device)
    }`,
  );
}

/** Holds `n` connections through the balancer (hold_conns.c); RSS of the balancer at the peak. */
async function holdConns(
  net: CompareNet,
  host: string,
  n: number,
  proc: Proc | undefined,
): Promise<{ hold: HoldResult; rssKiB: number | null }> {
  // Earlier runs' TIME_WAIT sockets and the servers' closed connections settle first.
  await new Promise((r) => setTimeout(r, 2000));
  const args: [OwnExecutable, ...string[]] = [
    own(`${ROOT}.tmp/bench/hold_conns`),
    "--target",
    `${host}:${HTTP_PORT}`,
    "--sources",
    CLIENT_IPS.join(","),
    "--count",
    String(n),
    // One process holds at most the descriptor hard limit (no CAP_SYS_RESOURCE here).
    "--workers",
    String(Math.ceil(n / (hardFdLimit() - 5000))),
    "--pending",
    "1000",
    "--hold",
    "5",
    "--timeout",
    "10",
    // 200 k connections take ~10 s to open through a balancer that holds them; one that stops
    // accepting makes every later attempt wait --timeout, so the run is cut (and says so).
    "--timeout-total",
    "120",
    "--request",
    "GET /small HTTP/1.1\\r\\nHost: bench\\r\\n\\r\\n",
  ];
  const p = net.t.spawn(net.client, args);
  let rss: number | null = null;
  // Sample the balancer's RSS while the connections are held (bounded by the tool's own cap).
  const deadline = Date.now() + 150_000;
  let exited = false;
  p.status.then(() => exited = true);
  while (!exited && Date.now() < deadline) {
    if (proc !== undefined) rss = Math.max(rss ?? 0, treeRssKiB(proc.pid));
    await new Promise((r) => setTimeout(r, 500));
  }
  const status = await p.stop("SIGTERM", 5_000);
  const out = p.output();
  const json = out.split("\n").reverse().find((l) => l.startsWith("{"));
  if (json === undefined) {
    throw new Error(`hold_conns (exit ${status.code}) printed no result:\n${out}`);
  }
  return { hold: JSON.parse(json) as HoldResult, rssKiB: rss };
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions();
  } catch (e) {
    console.error(`lb_compare: ${(e as Error).message}`);
    return 2;
  }
  if (Deno.uid() !== 0) {
    console.error("lb_compare: needs root (network namespaces, nftables, a TAP)");
    return 2;
  }
  Deno.mkdirSync(`${ROOT}.tmp/bench`, { recursive: true });
  await installTools(opts.conns.length > 0);
  const t = new Topology();
  let net: CompareNet | undefined;
  const rows: Row[] = [];
  try {
    say("# building the network (client, router, balancer place, 2 nginx real servers)");
    net = await buildCompareNet(t, 2);
    const modes = MODES.filter((m) => opts.only === null || opts.only.includes(m.key));
    for (const mode of modes) {
      say(`# ${mode.label}`);
      try {
        const row = await measure(net, mode, opts);
        rows.push(row);
        say(
          `  keep-alive ${row.keepAlive.requestsPerSec.toFixed(0)}/s, new conn ${
            row.newConn.requestsPerSec.toFixed(0)
          }/s, 1 MiB ${(row.big.bytesPerSec * 8 / 1e9).toFixed(2)} Gbit/s, iperf3 ${
            row.iperf === null ? "-" : (row.iperf.bitsPerSec / 1e9).toFixed(2)
          } Gbit/s`,
        );
      } catch (e) {
        say(`  failed: ${(e as Error).message}`);
        rows.push({ key: mode.key, label: mode.label, failure: firstLine(e) });
      }
    }
    await addProxySources(net);
    for (const n of opts.conns) {
      say(`# held concurrency: ${n} connections through each`);
      await startRealNginx(net, Math.ceil(n / (hardFdLimit() - 2000)) + 1);
      for (const mode of modes) {
        const row = rows.find((r) => r.key === mode.key);
        if (mode.skipHold || row === undefined || row.failure !== undefined) continue;
        // Where a balancer stopped, a larger step says nothing more.
        const last = row.holds.at(-1);
        if (last !== undefined && ("failure" in last || last.hold.served < last.n * 0.99)) continue;
        try {
          const h = await measureHold(net, mode, n);
          row.holds.push(h);
          say(`  ${mode.key}: established ${h.hold.established}, served ${h.hold.served}`);
        } catch (e) {
          say(`  ${mode.key} failed: ${(e as Error).message}`);
          row.holds.push({ n, failure: firstLine(e) });
        }
      }
    }
  } finally {
    await t.destroy();
    if (net !== undefined) destroyNet(net);
  }
  const command = `deno task bench:lb ${Deno.args.join(" ")}`.trim();
  const report = await formatReport(rows, {
    command,
    seconds: opts.seconds,
    threads: opts.threads,
    conns: opts.conns,
  });
  console.log(report);
  if (opts.write) {
    writeReport(`${ROOT}docs/BENCHMARKS.md`, report);
    // The report's paragraphs are not wrapped to the project's width: let deno fmt do it, so the
    // file stays `deno fmt --check` clean (CI checks it).
    await startProgram([DENO, "fmt", `${ROOT}docs/BENCHMARKS.md`], {
      stdout: "null",
      stderr: "null",
    }).output();
    say("# written to docs/BENCHMARKS.md");
  }
  return 0;
}

if (import.meta.main) Deno.exit(await main());
