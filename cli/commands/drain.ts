/**
 * `lb.ts drain SERVER[:PORT] [-t VIP:PORT] [--timeout S] [--control PATH]`: takes a real server
 * out of rotation gracefully. Its weight becomes 0 on every TCP/UDP service holding it (or only
 * on the `-t` service), through the `lb.admin` control command (edit-server, as `ipvsadm -e -w
 * 0`), so it gets no new flows while its existing ones go on; then the command polls `lb.list`
 * and prints a progress line until its active connections (IPVS ActiveConn) reach zero: exit 0,
 * or 1 when `--timeout` (default 300 s) passes first. Inactive flows (FIN_WAIT, TIME_WAIT...)
 * are not waited for: they carry no more requests, and they expire on their own.
 *
 * `lb.ts drain --all [--timeout S] [--control PATH]` drains the whole instance, as SIGTERM does
 * (lb/bgp/drain.ts): with `--bgp` its VIPs are withdrawn first; it keeps forwarding until the
 * router has stopped sending (no packet for 2 s) or `--timeout` (default 30 s) passes, then
 * stops. The command waits until the instance has gone: exit 0, or 1 if it is still there after
 * the timeout and 10 s more.
 *
 * @module
 */
import { parseFlags, str, UsageError } from "../args.ts";
import { DEFAULT_CONTROL_PATH } from "../host_flags.ts";
import { controlRequest } from "../control/client.ts";
import { LB_DRAIN, LB_LIST } from "./lb_inspect.ts";
import { LB_ADMIN } from "./lb_admin.ts";
import type { BalancerSnapshot } from "../../lb/balancer.ts";
import { type AdminOp, adminOpToWire } from "../../lb/admin.ts";
import type { Protocol } from "../../lb/service.ts";
import { formatAddress, parseAddress, splitHostPort } from "../../lb/address.ts";

/** A service as a target names it: "VIP:PORT", "[VIP]:PORT" for IPv6 (ipvsadm's form). */
function serviceKey(vip: string, port: number): string {
  return vip.includes(":") ? `[${vip}]:${port}` : `${vip}:${port}`;
}

/** Which server to drain, and where. */
export interface DrainTarget {
  /** The real server's address, dotted quad. */
  address: string;
  /** Its port, or null for any port. */
  port: number | null;
  /** Only this service ("VIP:PORT"), or null for every service holding the server. */
  service: string | null;
}

/** One (service, real server) pair to set to weight 0 and watch. */
export interface DrainEntry {
  protocol: Protocol;
  vip: string;
  vport: number;
  address: string;
  port: number;
}

/**
 * Parses `IP[:PORT]` or `VIP:PORT` (IPv6 in brackets: `[2001:db8::10]:80`); the address comes
 * back in the text `lb.ts list --json` uses. A reason string on bad input.
 */
function hostPort(text: string, needPort: boolean): { ip: string; port: number | null } | string {
  const hp = splitHostPort(text);
  const a = hp === null ? null : parseAddress(hp.host);
  if (hp === null || a === null) return `"${text}" is not IP[:PORT] (IPv6: [IP]:PORT)`;
  const ip = formatAddress(a);
  const p = hp.port;
  if (p === undefined) return needPort ? `"${text}" needs a :PORT` : { ip, port: null };
  if (!/^[0-9]{1,5}$/.test(p) || Number(p) < 1 || Number(p) > 65535) {
    return `"${text}": port is not in 1..65535`;
  }
  return { ip, port: Number(p) };
}

/** The command line, validated (every problem is a UsageError). */
export function parseDrainArgs(
  args: string[],
): { target: DrainTarget | null; timeoutMs: number; control: string } {
  const { flags, positionals } = parseFlags("drain", args, {
    t: { type: "string", short: "t" },
    timeout: { type: "string" },
    control: { type: "string" },
    all: { type: "boolean" },
  }, true);
  if (flags.all === true) {
    if (positionals.length > 0 || flags.t !== undefined) {
      throw new UsageError("drain: --all drains the whole instance (no SERVER, no -t)");
    }
    return {
      target: null,
      timeoutMs: Math.round(timeoutSeconds(str(flags, "timeout") ?? "30") * 1000),
      control: str(flags, "control") ?? DEFAULT_CONTROL_PATH,
    };
  }
  if (positionals.length !== 1) throw new UsageError("drain: give one SERVER[:PORT] or --all");
  const server = hostPort(positionals[0], false);
  if (typeof server === "string") throw new UsageError(`drain: ${server}`);
  const t = str(flags, "t");
  let service: string | null = null;
  if (t !== undefined) {
    const s = hostPort(t, true);
    if (typeof s === "string") throw new UsageError(`drain: -t ${s}`);
    service = serviceKey(s.ip, s.port as number);
  }
  const timeoutS = timeoutSeconds(str(flags, "timeout") ?? "300");
  return {
    target: { address: server.ip, port: server.port, service },
    timeoutMs: Math.round(timeoutS * 1000),
    control: str(flags, "control") ?? DEFAULT_CONTROL_PATH,
  };
}

/** `--timeout` in seconds, 0..86400. */
function timeoutSeconds(timeoutText: string): number {
  const timeoutS = Number(timeoutText);
  if (timeoutText.trim() === "" || !(timeoutS >= 0) || timeoutS > 86400) {
    throw new UsageError(
      `drain: --timeout "${timeoutText}" is not a number of seconds in 0..86400`,
    );
  }
  return timeoutS;
}

/** `drain --all`: asks the instance to drain and stop, then waits until it has gone. */
async function drainAll(control: string, timeoutMs: number): Promise<number> {
  const r = await controlRequest(control, { cmd: LB_DRAIN, timeoutMs }, 10_000) as {
    bgp: boolean;
  };
  console.log(
    `lb.ts: drain --all: ${r.bgp ? "VIPs withdrawn, " : ""}instance draining ` +
      `(at most ${timeoutMs / 1000} s)`,
  );
  const start = performance.now();
  // Bounded: the instance stops by itself at its timeout; 10 s more is a wedged one.
  while (performance.now() - start < timeoutMs + 10_000) {
    await new Promise((r) => setTimeout(r, 500));
    try {
      await controlRequest(control, { cmd: LB_LIST }, 2000);
    } catch {
      console.log(
        `lb.ts: drain --all: instance stopped after ${
          ((performance.now() - start) / 1000).toFixed(1)
        } s`,
      );
      return 0;
    }
  }
  console.error("lb.ts: drain --all: the instance is still running after the timeout");
  return 1;
}

/** The (service, server) pairs of `snap` that `target` names. */
export function drainEntries(snap: BalancerSnapshot, target: DrainTarget): DrainEntry[] {
  const out: DrainEntry[] = [];
  for (const s of snap.services) {
    if (target.service !== null && serviceKey(s.vip, s.port) !== target.service) continue;
    for (const r of s.reals) {
      if (r.address !== target.address) continue;
      if (target.port !== null && r.port !== target.port) continue;
      out.push({
        protocol: s.protocol as Protocol,
        vip: s.vip,
        vport: s.port,
        address: r.address,
        port: r.port,
      });
    }
  }
  return out;
}

/** The active connections left on `entries` in `snap` (a removed server counts 0). */
export function activeLeft(snap: BalancerSnapshot, entries: readonly DrainEntry[]): number {
  let n = 0;
  for (const e of entries) {
    const s = snap.services.find((s) =>
      s.protocol === e.protocol && s.vip === e.vip && s.port === e.vport
    );
    const r = s?.reals.find((r) => r.address === e.address && r.port === e.port);
    n += r?.activeConns ?? 0;
  }
  return n;
}

/** The edit-server change that sets `e`'s weight to 0. */
export function weightZero(e: DrainEntry): AdminOp {
  return {
    op: "edit-server",
    service: { protocol: e.protocol, vip: parseAddress(e.vip) ?? 0, port: e.vport },
    address: parseAddress(e.address) ?? 0,
    port: e.port,
    weight: 0,
  };
}

/** Poll interval while waiting. */
const POLL_MS = 1000;

/** Runs `lb.ts drain`; returns the exit code. */
export async function drainCommand(args: string[]): Promise<number> {
  const { target, timeoutMs, control } = parseDrainArgs(args);
  if (target === null) return await drainAll(control, timeoutMs);
  const list = async () => await controlRequest(control, { cmd: LB_LIST }) as BalancerSnapshot;
  const entries = drainEntries(await list(), target);
  const what = target.port === null ? target.address : serviceKey(target.address, target.port);
  if (entries.length === 0) {
    throw new UsageError(
      `drain: no real server ${what}${target.service ? ` in ${target.service}` : ""}`,
    );
  }
  for (const e of entries) {
    await controlRequest(control, { cmd: LB_ADMIN, change: adminOpToWire(weightZero(e)) }, 10_000);
    console.log(
      `lb.ts: drain ${e.address}:${e.port} in ${e.protocol} ${e.vip}:${e.vport}: weight 0`,
    );
  }
  const start = performance.now();
  // Bounded by the timeout: one poll per second.
  for (;;) {
    const left = activeLeft(await list(), entries);
    const elapsed = (performance.now() - start) / 1000;
    console.log(
      `lb.ts: drain ${what}: ${left} active connection(s) left (${elapsed.toFixed(0)} s)`,
    );
    if (left === 0) return 0;
    if (performance.now() - start >= timeoutMs) {
      console.error(`lb.ts: drain ${what}: timed out with ${left} active connection(s)`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, Math.min(POLL_MS, Math.max(0, timeoutMs))));
  }
}
