/**
 * The side-by-side benchmark's report: markdown tables of the figures, ratios against going
 * direct and against the kernel's DR datapath, the held-concurrency table, and the machine
 * description; {@link writeReport} puts it into docs/BENCHMARKS.md between markers (replacing the
 * previous run's).
 *
 * @module
 */

import type { HoldResult, IperfResult, WrkResult } from "./_load.ts";
import { type Cmd, startProgram } from "../../tests/programs.ts";

/** One balancer's figures, or why it has none. */
export type Row = {
  key: string;
  label: string;
  failure: string;
} | {
  key: string;
  label: string;
  failure?: undefined;
  keepAlive: WrkResult;
  newConn: WrkResult;
  big: WrkResult;
  iperf: IperfResult | null;
  /** CPU time of the balancer's processes per new-connection request (null: kernel datapath). */
  cpuUsPerReq: number | null;
  /** Busy time of the whole machine per new-connection request. */
  machineUsPerReq: number;
  /** Held concurrency (`--conns`), one entry per step, or why a step failed. */
  holds: (HoldFigures | { n: number; failure: string })[];
};

/** What one held-concurrency run measured. */
export interface HoldFigures {
  /** Connections asked for. */
  n: number;
  hold: HoldResult;
  /** The balancer's processes' peak RSS while holding, and before (null: kernel datapath). */
  rssKiB: number | null;
  rssBeforeKiB: number | null;
}

/** A row with figures. */
export type Measured = Extract<Row, { failure?: undefined }>;

const BEGIN = "<!-- lb_compare:begin -->";
const END = "<!-- lb_compare:end -->";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (n: number) => n < 10 ? n.toFixed(2) : n.toFixed(1);
const gbit = (bytesPerSec: number) => (bytesPerSec * 8 / 1e9).toFixed(2);
const ratio = (a: number | undefined, b: number | undefined) =>
  a === undefined || b === undefined || b === 0 ? "-" : `${(a / b).toFixed(2)}x`;

async function capture(cmd: Cmd): Promise<string> {
  try {
    const r = await startProgram(cmd, { stdout: "piped", stderr: "piped" }).output();
    const d = new TextDecoder();
    return (d.decode(r.stdout) + d.decode(r.stderr)).trim();
  } catch {
    return "";
  }
}

/** "AMD EPYC, 2 CPUs, kernel 6.x": the machine the figures come from. */
async function machine(): Promise<string> {
  const lscpu = await capture(["lscpu"]);
  const model = lscpu.match(/^Model name:\s+(.+)$/m)?.[1] ?? "unknown CPU";
  const cpus = lscpu.match(/^CPU\(s\):\s+(\d+)$/m)?.[1] ?? String(navigator.hardwareConcurrency);
  const kernel = await capture(["uname", "-r"]);
  return `${model}, ${cpus} CPUs (lscpu), kernel ${kernel}, Deno ${Deno.version.deno}`;
}

async function versions(): Promise<string> {
  const nginx = (await capture(["nginx", "-v"])).replace(/^nginx version: /, "");
  const haproxy = (await capture(["haproxy", "-v"])).split("\n")[0].replace(/^HAProxy version /, "")
    .split(" ")[0];
  const wrk = (await capture(["wrk", "-v"])).split("\n")[0].split(" ")[1] ?? "";
  const iperf = (await capture(["iperf3", "--version"])).split("\n")[0].split(" ")[1] ?? "";
  return `${nginx}, haproxy ${haproxy}, wrk ${wrk}, iperf3 ${iperf}`;
}

function table(head: string[], rows: string[][]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(3, ...all.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [line(head), `| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`, ...rows.map(line)]
    .join("\n");
}

/** What the report says about the run. */
export interface ReportInfo {
  command: string;
  seconds: number;
  threads: number;
  conns: number[];
}

/** The whole report (markdown). */
export async function formatReport(rows: Row[], info: ReportInfo): Promise<string> {
  const ok = rows.filter((r): r is Measured => r.failure === undefined);
  const by = (k: string) => ok.find((r) => r.key === k);
  const direct = by("direct");
  const kdr = by("kernel-dr");
  const knat = by("kernel-nat");
  const out: string[] = [];
  out.push(
    `Measured ${new Date().toISOString().slice(0, 10)} on ${await machine()}; ${await versions()}.`,
    `Command (root): \`${info.command}\`. Each measure runs ${info.seconds} s; one run, every`,
    "balancer in turn on the same topology (scripts/bench/_compare_net.ts: client -> router -> the",
    "balancer's place -> two nginx real servers with one worker each; every balancer, nginx and",
    `haproxy included, gets one worker/thread). wrk: ${info.threads} thread(s), 50 connections for the 100-byte`,
    "file, 8 for the 1 MiB file; a new connection per request is wrk with `Connection: close`.",
    "iperf3: one stream, `-R` (a download through the VIP, one real server).",
    "",
  );
  const figures = rows.map((r) => {
    if (r.failure !== undefined) {
      return [r.label, `failed: ${r.failure}`, "", "", "", "", "", "", ""];
    }
    return [
      r.label,
      int(r.keepAlive.requestsPerSec),
      `${ms(r.keepAlive.p50Ms)} / ${ms(r.keepAlive.p99Ms)}`,
      int(r.newConn.requestsPerSec),
      `${ms(r.newConn.p50Ms)} / ${ms(r.newConn.p99Ms)}`,
      gbit(r.big.bytesPerSec),
      r.iperf === null ? "-" : (r.iperf.bitsPerSec / 1e9).toFixed(2),
      r.cpuUsPerReq === null ? "softirq" : r.cpuUsPerReq.toFixed(1),
      r.machineUsPerReq.toFixed(1),
    ];
  });
  out.push(table([
    "balancer",
    "keep-alive req/s",
    "p50 / p99 ms",
    "new conn req/s",
    "p50 / p99 ms",
    "1 MiB goodput Gbit/s",
    "iperf3 Gbit/s",
    "balancer CPU us/req",
    "machine CPU us/req",
  ], figures));
  out.push(
    "",
    "CPU per request is for the new-connection run: the balancer's own processes (user + system",
    "time from /proc), and the busy time of the whole machine (client, servers and balancer",
    "together; subtract the direct row's to see what the balancer adds, softirq included).",
    "Errors (socket errors plus non-2xx answers) in the wrk runs: " +
      (ok.map((r) => `${r.key} ${r.keepAlive.errors}/${r.newConn.errors}/${r.big.errors}`).join(
        ", ",
      ) || "none measured") + ".",
    "",
    "Ratios (x direct / x kernel DR; iperf3 also x kernel NAT):",
    "",
  );
  const ratios = ok.map((r) => [
    r.label,
    `${ratio(r.keepAlive.requestsPerSec, direct?.keepAlive.requestsPerSec)} / ${
      ratio(r.keepAlive.requestsPerSec, kdr?.keepAlive.requestsPerSec)
    }`,
    `${ratio(r.newConn.requestsPerSec, direct?.newConn.requestsPerSec)} / ${
      ratio(r.newConn.requestsPerSec, kdr?.newConn.requestsPerSec)
    }`,
    `${ratio(r.big.bytesPerSec, direct?.big.bytesPerSec)} / ${
      ratio(r.big.bytesPerSec, kdr?.big.bytesPerSec)
    }`,
    r.iperf === null
      ? "-"
      : `${ratio(r.iperf.bitsPerSec, direct?.iperf?.bitsPerSec)} / ${
        ratio(r.iperf.bitsPerSec, kdr?.iperf?.bitsPerSec)
      } / ${ratio(r.iperf.bitsPerSec, knat?.iperf?.bitsPerSec)}`,
  ]);
  out.push(table(["balancer", "keep-alive", "new conn", "1 MiB goodput", "iperf3"], ratios));
  const held = ok.flatMap((r) => r.holds.map((h) => ({ r, h })));
  if (held.length > 0) {
    out.push(
      "",
      `Held concurrency (scripts/bench/hold_conns.c): ${
        info.conns.map(int).join(", ")
      } connections from 8 client addresses, held idle 5 s, then one request on each (at most ` +
        "1,000 waiting at once); a balancer that served less than 99% at one step is not tried " +
        "at the next. Real servers and proxies run as many nginx workers as the per-process file " +
        "descriptor limit asks for; proxies bind upstream connections to 8 source addresses.",
      "",
    );
    out.push(table(
      [
        "balancer",
        "asked",
        "established",
        "connect errors",
        "closed while idle",
        "served",
        "p50 / p99 ms",
        "connects/s",
        "balancer RSS MiB (bytes/conn)",
      ],
      held.map(({ r, h: step }) => {
        if ("failure" in step) {
          return [r.label, int(step.n), `failed: ${step.failure}`, "", "", "", "", "", ""];
        }
        const { hold: h, rssKiB, rssBeforeKiB } = step;
        const errs = Object.entries(h.errors).filter(([, v]) => v > 0).map(([k, v]) => `${k} ${v}`)
          .join(", ") || "0";
        const perConn = rssKiB === null || rssBeforeKiB === null || h.established === 0
          ? ""
          : ` (${int(Math.max(0, rssKiB - rssBeforeKiB) * 1024 / h.established)})`;
        return [
          r.label,
          int(step.n),
          int(h.established) + (h.complete === false ? " (run cut at its time limit)" : ""),
          h.timedOut > 0 ? `${errs}, timed out ${int(h.timedOut)}` : errs,
          int(h.closedWhileIdle),
          int(h.served),
          `${ms(h.latencyUs.p50 / 1000)} / ${ms(h.latencyUs.p99 / 1000)}`,
          int(h.connectRate),
          rssKiB === null ? "kernel" : `${(rssKiB / 1024).toFixed(0)}${perConn}`,
        ];
      }),
    ));
  }
  return out.join("\n");
}

/** Replaces the previous report in `path` (between the markers), or appends a new section. */
export function writeReport(path: string, report: string): void {
  const text = Deno.readTextFileSync(path);
  const block = `${BEGIN}\n${report}\n${END}`;
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END);
  let next: string;
  if (start >= 0 && end > start) {
    next = text.slice(0, start) + block + text.slice(end + END.length);
  } else {
    next = `${text.trimEnd()}\n\n## Side by side: lb.ts, the kernel, nginx and haproxy\n\n` +
      "Written by `deno task bench:lb` (scripts/bench/lb_compare.ts); the figures between the " +
      "markers are replaced by every run.\n\n" + block + "\n";
  }
  Deno.writeTextFileSync(path, next);
}
