/**
 * Live changes to a running {@link Balancer}, as ipvsadm makes them to IPVS: add, edit and
 * delete services and real servers, clear, save the running configuration, and apply a
 * configuration file as a diff (`lb.ts reload`). The control handlers in cli/commands/run.ts
 * call these; every change takes effect for the next new flow. Established flows keep their
 * real server unless it is deleted: then its flows go too (IPVS with `expire_nodest_conn`).
 *
 * Operator mistakes (no such service, a duplicate) are thrown as {@link AdminError}; the
 * control channel returns the message to the CLI.
 *
 * @module
 */

import { formatAddress, formatAddressPort, isIpv6Address, parseAddress } from "./address.ts";
import type { Balancer } from "./balancer.ts";
import type { FileConfig, FileService } from "./config_file.ts";
import {
  type BalancerConfig,
  checkAgainstHost,
  ConfigError,
  familyMismatch,
  type HostAddress,
  MAX_CONNS_LIMIT,
  MAX_TIMEOUT_S,
} from "./config.ts";
import type { ConnStateName } from "./conntrack/tcp_states.ts";
import type { HealthConfig } from "./health/monitor.ts";
import { createScheduler } from "./scheduler/mod.ts";
import type { SchedulerName } from "./scheduler/scheduler.ts";
import { type ForwardMethod, type Protocol, VirtualService } from "./service.ts";

/** An operator request the balancer cannot carry out. */
export class AdminError extends Error {
  override name = "AdminError";
}

/** Identifies a virtual service (ipvsadm `-t|-u VIP:PORT`). */
export interface ServiceKey {
  protocol: Protocol;
  /** VIP: u32, or an IPv6 address handle (lb/address.ts). */
  vip: number;
  port: number;
}

/**
 * One admin request (addresses as numbers: u32 or IPv6 handles). Over the control channel an
 * IPv6 address travels as text ({@link adminOpToWire}), since handles are local to a process.
 */
export type AdminOp =
  | {
    op: "add-service" | "edit-service";
    service: ServiceKey;
    scheduler?: SchedulerName;
    persistence?: number;
  }
  | { op: "del-service"; service: ServiceKey }
  | {
    op: "add-server" | "edit-server";
    service: ServiceKey;
    address: number;
    port: number;
    method?: ForwardMethod;
    weight?: number;
  }
  | { op: "del-server"; service: ServiceKey; address: number; port: number }
  | { op: "clear" }
  /** ipvsadm `-Z [-t|-u service]`: zero the traffic counters of one service or all. */
  | { op: "zero"; service?: ServiceKey }
  /**
   * ipvsadm `--set tcp tcpfin udp`: the ESTABLISHED, FIN_WAIT and UDP timeouts in seconds; an
   * absent or 0 value leaves that timeout as it is (as ipvsadm's 0 does). `maxConns` changes the
   * connection table's bound live (ConnTable.setCapacity).
   */
  | { op: "set"; tcp?: number; tcpfin?: number; udp?: number; maxConns?: number };

/** The states whose timeouts the file sets. */
const TIMEOUT_STATES: readonly ConnStateName[] = ["ESTABLISHED", "FIN_WAIT", "UDP"];

function name(k: ServiceKey): string {
  return `${k.protocol} ${formatAddressPort(k.vip, k.port)}`;
}

/**
 * NAT replies are addressed to the client: the stack (or its IPv6 host, for an IPv6 service)
 * must offer packets for other hosts to the balancer.
 */
function forwardReplies(b: Balancer, s: VirtualService): void {
  if (s.vip6 === null) b.stack.forwarding = true;
  else if (b.stack.ipv6 !== null) b.stack.ipv6.forwarding = true;
}

function findService(b: Balancer, k: ServiceKey): VirtualService {
  const s = b.services.lookup(k.protocol, k.vip, k.port);
  if (s === null) throw new AdminError(`no service ${name(k)}`);
  return s;
}

const OPS = [
  "add-service",
  "edit-service",
  "del-service",
  "add-server",
  "edit-server",
  "del-server",
  "clear",
  "zero",
  "set",
];

const isU32 = (v: unknown) =>
  typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/** An address of a request: a u32, or IPv6 text (made this process's handle); else null. */
function addressOf(v: unknown): number | null {
  if (isU32(v)) return v as number;
  if (typeof v !== "string" || !v.includes(":")) return null;
  return parseAddress(v);
}

/** The request as it crosses the control channel: IPv6 addresses as text (see AdminOp). */
export function adminOpToWire(op: AdminOp): Record<string, unknown> {
  const wire = (a: number) => (isIpv6Address(a) ? formatAddress(a) : a);
  const o: Record<string, unknown> = { ...op };
  if ("service" in op && op.service !== undefined) {
    o.service = { ...op.service, vip: wire(op.service.vip) };
  }
  if ("address" in op) o.address = wire(op.address);
  return o;
}

/**
 * Checks the shape of a request that came over the control channel (any local process may
 * send one): the op, the service key and the numbers' types. Values in range are checked again
 * where they are used (VirtualService, RealServer). Throws an AdminError.
 */
export function checkAdminOp(v: unknown): AdminOp {
  if (typeof v !== "object" || v === null) throw new AdminError("change: not an object");
  const o = v as Record<string, unknown>;
  if (typeof o.op !== "string" || !OPS.includes(o.op)) {
    throw new AdminError(`change: op ${JSON.stringify(o.op)} is not one of ${OPS.join(", ")}`);
  }
  if (o.op === "clear") return { op: "clear" };
  if (o.op === "set") {
    for (const f of ["tcp", "tcpfin", "udp"]) {
      const x = o[f];
      if (x !== undefined && !(isU32(x) && (x as number) <= MAX_TIMEOUT_S)) {
        throw new AdminError(`change: ${f} is not whole seconds in 0..${MAX_TIMEOUT_S}`);
      }
    }
    const m = o.maxConns;
    if (m !== undefined && !(isU32(m) && (m as number) >= 1 && (m as number) <= MAX_CONNS_LIMIT)) {
      throw new AdminError(`change: maxConns is not a whole number in 1..${MAX_CONNS_LIMIT}`);
    }
    return {
      op: "set",
      tcp: o.tcp as number,
      tcpfin: o.tcpfin as number,
      udp: o.udp as number,
      maxConns: m as number | undefined,
    };
  }
  const k = o.service as Record<string, unknown> | null;
  if (o.op === "zero" && k === undefined) return { op: "zero" };
  const vip = typeof k === "object" && k !== null ? addressOf(k.vip) : null;
  if (
    typeof k !== "object" || k === null || (k.protocol !== "tcp" && k.protocol !== "udp") ||
    vip === null || !isU32(k.port)
  ) {
    throw new AdminError("change: service is not {protocol, vip, port}");
  }
  const address = o.op.endsWith("-server") ? addressOf(o.address) : 0;
  if (address === null || (o.op.endsWith("-server") && !isU32(o.port))) {
    throw new AdminError(
      "change: a server change needs numeric address and port (IPv6: the address as text)",
    );
  }
  o.service = { ...k, vip };
  if (o.op.endsWith("-server")) o.address = address;
  for (const f of ["weight", "persistence"]) {
    if (o[f] !== undefined && !isU32(o[f])) throw new AdminError(`change: ${f} is not a number`);
  }
  return o as unknown as AdminOp;
}

/** Carries out one request; returns a one-line description of what changed. */
export function applyAdmin(b: Balancer, req: AdminOp): string {
  switch (req.op) {
    case "add-service": {
      const k = req.service;
      if (b.services.lookup(k.protocol, k.vip, k.port) !== null) {
        throw new AdminError(`service ${name(k)} already exists`);
      }
      const s = b.addService(
        new VirtualService({ ...k, scheduler: req.scheduler ?? "wlc" }),
      );
      b.setPersistence(s, (req.persistence ?? 0) * 1000);
      return `added service ${name(k)}`;
    }
    case "edit-service": {
      const s = findService(b, req.service);
      if (req.scheduler !== undefined && req.scheduler !== s.scheduler.name) {
        s.setScheduler(createScheduler(req.scheduler));
      }
      if (req.persistence !== undefined) b.setPersistence(s, req.persistence * 1000);
      return `edited service ${name(req.service)}`;
    }
    case "del-service": {
      const k = req.service;
      if (b.removeService(k.protocol, k.vip, k.port) === null) {
        throw new AdminError(`no service ${name(k)}`);
      }
      return `deleted service ${name(k)}`;
    }
    case "add-server": {
      const s = findService(b, req.service);
      const port = req.port === s.port ? 0 : req.port;
      const mixed = familyMismatch(s.vip, req.address);
      if (mixed !== null) throw new AdminError(`add-server: ${mixed}`);
      if (s.findReal(req.address, port) !== null) {
        throw new AdminError(`real server ${formatAddress(req.address)} already in ${name(s)}`);
      }
      if (port !== 0 && (req.method ?? "dr") !== "nat") {
        // DR and TUN cannot rewrite the port (IPVS ignores it for them): refuse, as the file does.
        throw new AdminError(`port ${req.port} differs from the virtual port: it needs -m (nat)`);
      }
      b.addReal(s, {
        address: req.address,
        port,
        weight: req.weight ?? 1,
        method: req.method ?? "dr",
      });
      const added = formatAddressPort(req.address, s.realPort(s.reals.at(-1)!));
      return `added server ${added} to ${name(s)}`;
    }
    case "edit-server": {
      const s = findService(b, req.service);
      const port = req.port === s.port ? 0 : req.port;
      if (s.findReal(req.address, port) === null) {
        throw new AdminError(`no real server ${formatAddress(req.address)} in ${name(s)}`);
      }
      s.editReal(req.address, port, { weight: req.weight, method: req.method });
      if (req.method === "nat") forwardReplies(b, s);
      return `edited server ${formatAddress(req.address)} in ${name(s)}`;
    }
    case "del-server": {
      const s = findService(b, req.service);
      const port = req.port === s.port ? 0 : req.port;
      if (b.removeReal(s, req.address, port) === null) {
        throw new AdminError(`no real server ${formatAddress(req.address)} in ${name(s)}`);
      }
      return `deleted server ${formatAddress(req.address)} from ${name(s)}`;
    }
    case "clear": {
      const all = [...b.services.list()];
      for (const s of all) b.removeService(s.protocol, s.vip, s.port);
      return `cleared ${all.length} services`;
    }
    case "zero": {
      if (req.service !== undefined) {
        findService(b, req.service).zeroStats();
        return `zeroed the counters of ${name(req.service)}`;
      }
      const all = b.services.list();
      for (const s of all) s.zeroStats();
      return `zeroed the counters of ${all.length} service(s)`;
    }
    case "set": {
      const set: string[] = [];
      const apply = (state: ConnStateName, seconds: number | undefined, label: string) => {
        if (seconds === undefined || seconds === 0) return;
        b.conns.setTimeout(state, seconds * 1000);
        set.push(`${label} ${seconds} s`);
      };
      apply("ESTABLISHED", req.tcp, "tcp");
      apply("FIN_WAIT", req.tcpfin, "tcpfin");
      apply("UDP", req.udp, "udp");
      const timeouts = set.length === 0 ? "timeouts unchanged" : `timeouts set: ${set.join(", ")}`;
      if (req.maxConns === undefined) return timeouts;
      return `${setMaxConns(b, req.maxConns)}; ${timeouts}`;
    }
  }
}

/**
 * Sets the connection table's bound live; returns what it did. Below the current number of
 * flows none is dropped: new flows are refused until enough have ended (lb/conntrack/table.ts).
 */
export function setMaxConns(b: Balancer, maxConns: number): string {
  const before = b.conns.capacity;
  b.conns.setCapacity(maxConns);
  const size = b.conns.size;
  const over = size > maxConns
    ? ` (${size} flows now: new flows are refused until fewer than ${maxConns} remain)`
    : "";
  return `maxConns ${before} -> ${maxConns}${over}`;
}

/**
 * Runs on an admin change the host checks that `--config` runs (lb/config.ts checkAgainstHost):
 * a DR real server must be on the balancer's link, no real server may be the balancer itself
 * or a VIP, and one off the link needs a gateway. Throws an AdminError naming the server.
 */
export function checkAdminAgainstHost(b: Balancer, req: AdminOp, host: HostAddress): void {
  if (req.op !== "add-server" && req.op !== "edit-server") return;
  const s = findService(b, req.service);
  const port = req.port === s.port ? 0 : req.port;
  const method = req.method ?? s.findReal(req.address, port)?.method ?? "dr";
  // Every VIP the balancer holds, so a real server cannot be one of them.
  const others = b.services.list().map((o) => ({
    protocol: o.protocol,
    vip: o.vip,
    port: o.port,
    scheduler: "rr" as const,
    method: "dr" as const,
    reals: [],
  }));
  const config: BalancerConfig = {
    services: [...others, {
      protocol: s.protocol,
      vip: s.vip,
      port: s.port,
      scheduler: "rr",
      method,
      reals: [{ address: req.address, port, weight: 1 }],
    }],
    timeouts: {},
  };
  try {
    checkAgainstHost(config, host);
  } catch (e) {
    if (e instanceof ConfigError) {
      throw new AdminError(`${req.op}: ${e.message.replace(/^--real /, "real server ")}`);
    }
    throw e;
  }
}

/**
 * The running configuration in the file's model (what `lb.ts save` prints). `health` is the
 * checks the instance runs (the balancer does not hold them), saved as the file's `"health"`;
 * `serviceHealth` gives a service's own checks (saved as its `"health"`), or undefined.
 */
export function runningConfig(
  b: Balancer,
  health: HealthConfig | null = null,
  serviceHealth: (s: VirtualService) => HealthConfig | undefined = () => undefined,
): FileConfig {
  const timeouts: FileConfig["timeouts"] = {};
  for (const st of TIMEOUT_STATES) timeouts[st] = b.conns.timeout(st);
  return {
    maxConns: b.conns.capacity,
    timeouts,
    ...(health !== null ? { health } : {}),
    services: b.services.list().map((s) => ({
      protocol: s.protocol,
      vip: s.vip,
      port: s.port,
      scheduler: s.scheduler.name as SchedulerName,
      persistence: Math.round(b.persistence(s) / 1000),
      ...(serviceHealth(s) !== undefined ? { health: serviceHealth(s) } : {}),
      reals: s.reals.map((r) => ({
        address: r.address,
        port: r.port,
        weight: r.weight,
        method: r.method,
      })),
    })),
  };
}

/** Builds a service with its real servers from the file model and adds it. */
export function addFileService(b: Balancer, fs: FileService): VirtualService {
  const s = b.addService(
    new VirtualService({
      protocol: fs.protocol,
      vip: fs.vip,
      port: fs.port,
      scheduler: fs.scheduler,
    }),
  );
  for (const r of fs.reals) b.addReal(s, r);
  b.setPersistence(s, fs.persistence * 1000);
  return s;
}

/**
 * Applies `config` as a diff (`lb.ts reload`): services and real servers that are gone are
 * deleted (with their flows), new ones added, changed schedulers, weights, methods,
 * persistence, timeouts and `maxConns` set (a smaller bound keeps the flows already there:
 * {@link setMaxConns}); what did not change is untouched, flows included. `config` must be
 * validated (parseConfigText). Returns what changed.
 */
export function applyConfig(b: Balancer, config: FileConfig): string[] {
  const changes: string[] = [];
  const key = (s: ServiceKey) => `${s.protocol} ${s.vip} ${s.port}`;
  const wanted = new Map(config.services.map((s) => [key(s), s]));
  for (const s of [...b.services.list()]) {
    if (!wanted.has(key(s))) {
      b.removeService(s.protocol, s.vip, s.port);
      changes.push(`deleted service ${name(s)}`);
    }
  }
  for (const fs of config.services) {
    const s = b.services.lookup(fs.protocol, fs.vip, fs.port);
    if (s === null) {
      addFileService(b, fs);
      changes.push(`added service ${name(fs)}`);
      continue;
    }
    if (s.scheduler.name !== fs.scheduler) {
      s.setScheduler(createScheduler(fs.scheduler));
      changes.push(`service ${name(fs)}: scheduler ${fs.scheduler}`);
    }
    if (b.persistence(s) !== fs.persistence * 1000) {
      b.setPersistence(s, fs.persistence * 1000);
      changes.push(`service ${name(fs)}: persistence ${fs.persistence}`);
    }
    for (const r of [...s.reals]) {
      if (!fs.reals.some((w) => w.address === r.address && w.port === r.port)) {
        b.removeReal(s, r.address, r.port);
        changes.push(`deleted server ${formatAddress(r.address)} from ${name(fs)}`);
      }
    }
    for (const w of fs.reals) {
      const r = s.findReal(w.address, w.port);
      if (r === null) {
        b.addReal(s, w);
        changes.push(`added server ${formatAddress(w.address)} to ${name(fs)}`);
      } else if (r.weight !== w.weight || r.method !== w.method) {
        s.editReal(w.address, w.port, { weight: w.weight, method: w.method });
        if (w.method === "nat") forwardReplies(b, s);
        changes.push(`edited server ${formatAddress(w.address)} in ${name(fs)}`);
      }
    }
  }
  for (const st of TIMEOUT_STATES) {
    const ms = config.timeouts[st];
    if (ms !== undefined && ms !== b.conns.timeout(st)) {
      b.conns.setTimeout(st, ms);
      changes.push(`timeout ${st} ${ms / 1000} s`);
    }
  }
  if (config.maxConns !== undefined && config.maxConns !== b.conns.capacity) {
    changes.push(setMaxConns(b, config.maxConns));
  }
  return changes;
}
