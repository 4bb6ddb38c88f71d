/**
 * Load generators and meters of the side-by-side benchmark (scripts/bench/lb_compare.ts): `wrk`
 * for request rates and latency, `iperf3` for bulk throughput, `hold_conns` (hold_conns.c) for
 * held concurrency, and CPU time read from /proc (a process tree's, and the whole machine's).
 *
 * @module
 */

import type { Topology } from "../../tests/netns/topology.ts";
import type { Program } from "../../tests/programs.ts";

/** What one wrk run measured. */
export interface WrkResult {
  requestsPerSec: number;
  /** Latency percentiles in milliseconds. */
  p50Ms: number;
  p99Ms: number;
  /** Bytes per second read by the client. */
  bytesPerSec: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout) plus non-2xx/3xx responses. */
  errors: number;
}

const TIME_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const SIZE_UNITS: Record<string, number> = {
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
  TB: 1024 ** 4,
};

/** Parses wrk's `--latency` report; throws when a figure is missing. */
export function parseWrk(text: string): WrkResult {
  const num = (re: RegExp, what: string): RegExpMatchArray => {
    const m = text.match(re);
    if (m === null) throw new Error(`wrk output has no ${what}:\n${text}`);
    return m;
  };
  const pct = (p: string): number => {
    const m = num(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, "m"), `${p}% latency`);
    return Number(m[1]) * TIME_UNITS[m[2]];
  };
  const rps = Number(num(/^Requests\/sec:\s+([\d.]+)/m, "Requests/sec")[1]);
  const tr = num(/^Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB|TB)/m, "Transfer/sec");
  const requests = Number(num(/^\s+(\d+) requests in/m, "request count")[1]);
  let errors = 0;
  const se = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  if (se !== null) errors += se.slice(1).reduce((a, b) => a + Number(b), 0);
  const non2xx = text.match(/Non-2xx or 3xx responses: (\d+)/);
  if (non2xx !== null) errors += Number(non2xx[1]);
  return {
    requestsPerSec: rps,
    p50Ms: pct("50"),
    p99Ms: pct("99"),
    bytesPerSec: Number(tr[1]) * SIZE_UNITS[tr[2]],
    requests,
    errors,
  };
}

/** Options of one wrk run. */
export interface WrkOptions {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  /** A new connection per request (`Connection: close`) instead of keep-alive. */
  close?: boolean;
}

/** Runs wrk in the client namespace (bounded by its duration plus a margin). */
export async function runWrk(t: Topology, ns: string, o: WrkOptions): Promise<WrkResult> {
  const args: [Program, ...string[]] = [
    "wrk",
    "--latency",
    "-t",
    String(o.threads),
    "-c",
    String(o.connections),
    "-d",
    `${o.seconds}s`,
    "--timeout",
    "5s",
  ];
  if (o.close) args.push("-H", "Connection: close");
  args.push(o.url);
  const r = await t.exec(ns, args, (o.seconds + 30) * 1000);
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${r.stderr}${r.stdout}`);
  return parseWrk(r.stdout);
}

/** What one iperf3 run measured. */
export interface IperfResult {
  /** Goodput received, bits per second. */
  bitsPerSec: number;
  /** Retransmitted segments reported by the sender. */
  retransmits: number;
}

/**
 * Runs `iperf3 -c HOST -R` (the server sends: a download through the VIP, the web's direction)
 * in the client namespace for `seconds`, one stream.
 */
export async function runIperf(
  t: Topology,
  ns: string,
  host: string,
  port: number,
  seconds: number,
): Promise<IperfResult> {
  const r = await t.exec(
    ns,
    [
      "iperf3",
      "-c",
      host,
      "-p",
      String(port),
      "-R",
      "-t",
      String(seconds),
      "-J",
      "--connect-timeout",
      "3000",
    ],
    (seconds + 30) * 1000,
  );
  let j: {
    end?: { sum_received?: { bits_per_second: number }; sum_sent?: { retransmits?: number } };
    error?: string;
  };
  try {
    j = JSON.parse(r.stdout);
  } catch {
    throw new Error(`iperf3 printed no JSON (exit ${r.code}): ${r.stderr}`);
  }
  if (j.error !== undefined || j.end?.sum_received === undefined) {
    throw new Error(`iperf3 failed: ${j.error ?? r.stderr}`);
  }
  return {
    bitsPerSec: j.end.sum_received.bits_per_second,
    retransmits: j.end.sum_sent?.retransmits ?? 0,
  };
}

/** Clock ticks per second of /proc's CPU times (USER_HZ; 100 on every Linux build that matters). */
const USER_HZ = 100;

/** `pid` and its direct children (nginx's workers, say), from /proc; gone processes are skipped. */
function treePids(pid: number): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const p = Number(e.name);
    if (p === pid) {
      pids.push(p);
      continue;
    }
    try {
      const stat = Deno.readTextFileSync(`/proc/${p}/stat`);
      // The fields after the parenthesised command (which may hold spaces): state, ppid, ...
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === pid) pids.push(p);
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

/** Reads a /proc file of `pid`, or null when the process is gone. */
function procText(pid: number, file: string): string | null {
  try {
    return Deno.readTextFileSync(`/proc/${pid}/${file}`);
  } catch {
    return null;
  }
}

/** User + system CPU seconds of `pid` and its direct children. */
export function treeCpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of treePids(pid)) {
    const stat = procText(p, "stat");
    if (stat === null) continue;
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(rest[11]) + Number(rest[12]); // utime(14) stime(15)
  }
  return ticks / USER_HZ;
}

/** Busy CPU seconds of the whole machine (all CPUs: everything but idle and iowait). */
export function machineBusySeconds(): number {
  const line = Deno.readTextFileSync("/proc/stat").split("\n")[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / USER_HZ;
}

/** Resident set size of `pid` and its direct children, in KiB. */
export function treeRssKiB(pid: number): number {
  let kib = 0;
  for (const p of treePids(pid)) {
    kib += Number(procText(p, "status")?.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0);
  }
  return kib;
}

/** What hold_conns printed (scripts/bench/hold_conns.c). */
export interface HoldResult {
  requested: number;
  established: number;
  errors: Record<string, number>;
  timedOut: number;
  closedWhileIdle: number;
  served: number;
  failed: number;
  connectRate: number;
  latencyUs: { p50: number; p99: number; max: number };
  /** False when --timeout-total cut the run short. */
  complete?: boolean;
}
