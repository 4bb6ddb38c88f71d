/**
 * ipvsadm-like verbs that change a running balancer over its control socket:
 *
 *   lb.ts add-service|edit-service -t|-u VIP:PORT [-s SCHED] [-p SECONDS]
 *   lb.ts del-service -t|-u VIP:PORT
 *   lb.ts add-server|edit-server -t|-u VIP:PORT -r IP[:PORT] [-g|-m|-i] [-w WEIGHT]
 *   lb.ts del-server -t|-u VIP:PORT -r IP[:PORT]
 *
 * An IPv6 VIP or real server is written in brackets, as ipvsadm does: `-t [2001:db8::100]:80
 * -r [2001:db8::10]:80` (a real server without a port may be bare).
 *   lb.ts zero [-t|-u VIP:PORT]
 *   lb.ts set [--tcp S] [--tcpfin S] [--udp S] [--max-conns N]
 *   lb.ts clear | save | reload
 *
 * each with `--control PATH`. The flags are parsed and validated here (bad input: one line,
 * exit 2); the instance applies the change (lb/admin.ts) or answers with why it cannot (exit 1).
 * `save` prints the running configuration as a config file (lb/config_file.ts); `reload` makes
 * the instance re-read its `--config` file and apply it as a diff.
 *
 * @module
 */
import { type Flags, type FlagSpec, intArg, parseFlags, str, UsageError } from "../args.ts";
import { parseAddress, splitHostPort } from "../../lb/address.ts";
import { DEFAULT_CONTROL_PATH } from "../host_flags.ts";
import { controlRequest } from "../control/client.ts";
import { type AdminOp, adminOpToWire, type ServiceKey } from "../../lb/admin.ts";
import {
  configFromWire,
  type FileConfig,
  formatConfig,
  MAX_PERSISTENCE_S,
} from "../../lb/config_file.ts";
import { MAX_CONNS_LIMIT, MAX_TIMEOUT_S } from "../../lb/config.ts";
import { SCHEDULER_NAMES, type SchedulerName } from "../../lb/scheduler/scheduler.ts";
import { type ForwardMethod, MAX_WEIGHT } from "../../lb/service.ts";

/** Control command: one {@link AdminOp} in `req.change`. */
export const LB_ADMIN = "lb.admin";
/** Control command: the running configuration ({@link FileConfig} as JSON-able data). */
export const LB_SAVE = "lb.save";
/** Control command: re-read the config file and apply it as a diff. */
export const LB_RELOAD = "lb.reload";

const SERVICE_SPEC: FlagSpec = {
  control: { type: "string" },
  "tcp-service": { type: "string", short: "t" },
  "udp-service": { type: "string", short: "u" },
};
const SERVICE_EDIT_SPEC: FlagSpec = {
  ...SERVICE_SPEC,
  scheduler: { type: "string", short: "s" },
  persistent: { type: "string", short: "p" },
};
const SET_SPEC: FlagSpec = {
  control: { type: "string" },
  tcp: { type: "string" },
  tcpfin: { type: "string" },
  udp: { type: "string" },
  "max-conns": { type: "string" },
};
const SERVER_SPEC: FlagSpec = {
  ...SERVICE_SPEC,
  "real-server": { type: "string", short: "r" },
  gatewaying: { type: "boolean", short: "g" },
  masquerading: { type: "boolean", short: "m" },
  ipip: { type: "boolean", short: "i" },
  weight: { type: "string", short: "w" },
};

function serviceKey(cmd: string, flags: Flags): ServiceKey {
  const t = str(flags, "tcp-service");
  const u = str(flags, "udp-service");
  if ((t === undefined) === (u === undefined)) {
    throw new UsageError(`${cmd}: give exactly one of -t VIP:PORT or -u VIP:PORT`);
  }
  const text = (t ?? u) as string;
  const hp = splitHostPort(text);
  if (hp === null || hp.port === undefined || !/^[0-9]{1,5}$/.test(hp.port)) {
    throw new UsageError(`${cmd}: "${text}" is not VIP:PORT (IPv6: [VIP]:PORT)`);
  }
  return {
    protocol: t !== undefined ? "tcp" : "udp",
    vip: addressArg(hp.host, `${cmd} -${t !== undefined ? "t" : "u"}`),
    port: intArg(hp.port, `${cmd} port`, 1, 65535),
  };
}

/** An IPv4 or IPv6 address (lb/address.ts numbers), or a UsageError naming `what`. */
function addressArg(text: string, what: string): number {
  const a = parseAddress(text);
  if (a === null) throw new UsageError(`${what}: "${text}" is not an IPv4 or IPv6 address`);
  return a;
}

function realOf(cmd: string, flags: Flags): { address: number; port: number } {
  const text = str(flags, "real-server");
  if (text === undefined) throw new UsageError(`${cmd}: -r IP[:PORT] is required`);
  const hp = splitHostPort(text);
  if (hp === null || (hp.port !== undefined && !/^[0-9]{1,5}$/.test(hp.port))) {
    throw new UsageError(`${cmd}: "${text}" is not IP[:PORT] (IPv6: [IP]:PORT)`);
  }
  return {
    address: addressArg(hp.host, `${cmd} -r`),
    port: hp.port === undefined ? 0 : intArg(hp.port, `${cmd} -r port`, 1, 65535),
  };
}

function methodOf(cmd: string, flags: Flags): ForwardMethod | undefined {
  const set = (["gatewaying", "masquerading", "ipip"] as const).filter((f) => flags[f] === true);
  if (set.length > 1) throw new UsageError(`${cmd}: give only one of -g, -m, -i`);
  if (set.length === 0) return undefined;
  return set[0] === "gatewaying" ? "dr" : set[0] === "masquerading" ? "nat" : "tun";
}

/**
 * The {@link AdminOp} for verb `cmd` and its arguments, without talking to anyone (tested
 * directly). Throws a UsageError on bad input.
 */
export function parseAdminArgs(cmd: string, args: string[]): { op: AdminOp; control: string } {
  const spec = cmd.endsWith("-server")
    ? SERVER_SPEC
    : cmd === "del-service" || cmd === "zero"
    ? SERVICE_SPEC
    : cmd === "clear"
    ? { control: SERVICE_SPEC.control }
    : cmd === "set"
    ? SET_SPEC
    : SERVICE_EDIT_SPEC;
  const { flags } = parseFlags(cmd, args, spec);
  const control = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  if (cmd === "clear") return { op: { op: "clear" }, control };
  if (cmd === "zero" && flags["tcp-service"] === undefined && flags["udp-service"] === undefined) {
    return { op: { op: "zero" }, control };
  }
  if (cmd === "set") {
    // ipvsadm --set: whole seconds, 0 leaves that timeout as it is.
    const secs = (f: "tcp" | "tcpfin" | "udp") => {
      const v = str(flags, f);
      return v === undefined ? undefined : intArg(v, `set --${f}`, 0, MAX_TIMEOUT_S);
    };
    const m = str(flags, "max-conns");
    const op = {
      op: "set" as const,
      tcp: secs("tcp"),
      tcpfin: secs("tcpfin"),
      udp: secs("udp"),
      // The connection table's bound, live (not in ipvsadm: its table is sized at module load).
      ...(m === undefined ? {} : { maxConns: intArg(m, "set --max-conns", 1, MAX_CONNS_LIMIT) }),
    };
    if (
      op.tcp === undefined && op.tcpfin === undefined && op.udp === undefined && m === undefined
    ) {
      throw new UsageError("set: give at least one of --tcp S, --tcpfin S, --udp S, --max-conns N");
    }
    return { op, control };
  }
  const service = serviceKey(cmd, flags);
  switch (cmd) {
    case "add-service":
    case "edit-service": {
      const s = str(flags, "scheduler");
      if (s !== undefined && !(SCHEDULER_NAMES as readonly string[]).includes(s)) {
        throw new UsageError(`${cmd}: -s "${s}" is not one of ${SCHEDULER_NAMES.join(", ")}`);
      }
      const p = str(flags, "persistent");
      return {
        op: {
          op: cmd,
          service,
          scheduler: s as SchedulerName | undefined,
          persistence: p === undefined ? undefined : intArg(p, `${cmd} -p`, 0, MAX_PERSISTENCE_S),
        },
        control,
      };
    }
    case "del-service":
    case "zero":
      return { op: { op: cmd, service }, control };
    case "add-server":
    case "edit-server": {
      const w = str(flags, "weight");
      return {
        op: {
          op: cmd,
          service,
          ...realOf(cmd, flags),
          method: methodOf(cmd, flags),
          weight: w === undefined ? undefined : intArg(w, `${cmd} -w`, 0, MAX_WEIGHT),
        },
        control,
      };
    }
    case "del-server":
      return { op: { op: cmd, service, ...realOf(cmd, flags) }, control };
  }
  throw new UsageError(`${cmd}: not an admin verb`);
}

/** Runs one admin verb (`add-service` ... `clear`) against the instance; returns the exit code. */
export function adminCommand(cmd: string): (args: string[]) => Promise<number> {
  return async (args) => {
    const { op, control } = parseAdminArgs(cmd, args);
    const msg = await controlRequest(control, { cmd: LB_ADMIN, change: adminOpToWire(op) }, 10_000);
    console.log(`lb.ts: ${msg}`);
    return 0;
  };
}

/** `lb.ts save [--control PATH]`: the running configuration as a config file on stdout. */
export async function saveCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("save", args, { control: { type: "string" } });
  const control = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const config = await controlRequest(control, { cmd: LB_SAVE }, 10_000) as FileConfig;
  console.log(formatConfig(configFromWire(config)).trimEnd());
  return 0;
}

/** `lb.ts reload [--control PATH]`: the instance re-reads its config file (like SIGHUP). */
export async function reloadCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("reload", args, { control: { type: "string" } });
  const control = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const changes = await controlRequest(control, { cmd: LB_RELOAD }, 10_000) as string[];
  console.log(`lb.ts: reloaded, ${changes.length} change(s)`);
  for (const c of changes) console.log(`lb.ts:   ${c}`);
  return 0;
}
