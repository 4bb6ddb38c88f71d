/**
 * `lb.ts run --tap NAME --ip ADDR/PREFIX [--gateway IP] --service tcp:VIP:PORT --scheduler NAME
 * --method dr|nat|tun --real IP[:PORT][,weight=N] ... [--max-conns N] [--timeout-tcp S]
 * [--timeout-tcpfin S] [--timeout-udp S]`: the load balancer on a TAP until SIGINT/SIGTERM.
 *
 * Each `--service` starts a group; the `--scheduler`, `--method` and `--real` flags after it
 * belong to it (lb/config.ts), so the flags are parsed with `tokens: true` to keep their order.
 * Everything is validated before anything is opened: bad input is one line and exit code 2.
 * A running balancer answers `lb.ts list`, `list --stats` and `conns` (cli/commands/lb_inspect.ts)
 * besides the host's `arp`, `route`, `stats` and `ping`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { type Flags, UsageError } from "../args.ts";
import { HOST_FLAG_SPEC, type HostOptions, hostOptions } from "../host_flags.ts";
import { readyLine, runUntilSignal, startInstance } from "../instance.ts";
import { LB_CONNS, LB_LIST } from "./lb_inspect.ts";
import { Balancer } from "../../lb/balancer.ts";
import {
  BALANCER_FLAGS,
  type BalancerConfig,
  balancerConfigFromFlags,
  buildServices,
  checkAgainstHost,
  ConfigError,
  type FlagOccurrence,
} from "../../lb/config.ts";
import { formatIpv4 } from "../../stack/wire/address.ts";

const SPEC = {
  ...HOST_FLAG_SPEC,
  service: { type: "string", multiple: true },
  scheduler: { type: "string", multiple: true },
  method: { type: "string", multiple: true },
  real: { type: "string", multiple: true },
  "max-conns": { type: "string" },
  "timeout-tcp": { type: "string" },
  "timeout-tcpfin": { type: "string" },
  "timeout-udp": { type: "string" },
} as const;

const BALANCER_FLAG_SET: ReadonlySet<string> = new Set(BALANCER_FLAGS);

/** The validated command line of `lb.ts run`; every problem is a UsageError. */
export function parseRunArgs(args: string[]): { host: HostOptions; config: BalancerConfig } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: SPEC,
      strict: true,
      allowPositionals: false,
      tokens: true,
    });
  } catch (e) {
    // node's messages go on ("... To specify a positional argument ..."): keep the first sentence.
    throw new UsageError(`run: ${e instanceof Error ? e.message.split(". ")[0] : e}`);
  }
  const host = hostOptions("run", parsed.values as Flags);
  const occurrences: FlagOccurrence[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== "option" || !BALANCER_FLAG_SET.has(t.name)) continue;
    if (t.value === undefined) throw new UsageError(`run: --${t.name} needs a value`);
    occurrences.push({ name: t.name, value: t.value });
  }
  try {
    const config = balancerConfigFromFlags(occurrences);
    checkAgainstHost(config, host);
    return { host, config };
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(`run: ${e.message}`);
    throw e;
  }
}

/** One line per service: what the balancer does, for the operator and the test logs. */
function describe(config: BalancerConfig): string[] {
  return config.services.map((s) =>
    `lb.ts: service ${s.protocol} ${formatIpv4(s.vip)}:${s.port} ${s.scheduler} ${s.method} -> ` +
    s.reals.map((r) => `${formatIpv4(r.address)}:${r.port || s.port} w${r.weight}`).join(", ")
  );
}

/** Runs `lb.ts run`; returns the exit code. */
export async function runCommand(args: string[]): Promise<number> {
  const { host, config } = parseRunArgs(args);
  const inst = startInstance(host);
  const balancer = new Balancer(inst.stack, {
    maxConns: config.maxConns,
    timeouts: config.timeouts,
  });
  for (const service of buildServices(config)) balancer.addService(service);
  balancer.attach();
  inst.handle(LB_LIST, () => balancer.snapshot());
  inst.handle(LB_CONNS, (req) => {
    const limit = req.limit;
    return balancer.connections(
      typeof limit === "number" && Number.isInteger(limit) && limit > 0 ? limit : undefined,
    );
  });
  for (const line of describe(config)) console.log(line);
  console.log(readyLine("balancer", host, inst));
  await runUntilSignal(inst);
  console.log("lb.ts: balancer stopped");
  return 0;
}
