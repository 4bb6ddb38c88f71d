/**
 * `lb.ts list [--stats]` and `lb.ts conns`: read a running balancer's services and connection
 * table over its control socket and print them like `ipvsadm -L -n`, `ipvsadm -L -n --stats`
 * and `ipvsadm -L -n -c` (cli/format/ipvs_tables.ts). `--json` prints the raw answer instead.
 *
 * @module
 */
import { intArg, parseFlags, str } from "../args.ts";
import { DEFAULT_CONTROL_PATH } from "../host_flags.ts";
import { ControlError, controlRequest } from "../control/client.ts";
import type { ControlRequest } from "../control/protocol.ts";
import { formatConns, formatRates, formatServices, formatStats } from "../format/ipvs_tables.ts";
import type { BalancerSnapshot, ConnsSnapshot } from "../../lb/balancer.ts";
import type { BgpStatus } from "../../lb/bgp/announcer.ts";
import { formatBgp } from "../format/bgp_table.ts";

/** Control commands a running `lb.ts run` answers (see cli/commands/run.ts). */
export const LB_LIST = "lb.list";
/** Control command for the connection table. */
export const LB_CONNS = "lb.conns";
/** Control command of `lb.ts drain --all`: withdraw, drain, stop (lb/bgp/drain.ts). */
export const LB_DRAIN = "lb.drain";

/** Asks the instance at `path`; an instance without a balancer gets a clear message. */
async function ask(
  path: string,
  req: ControlRequest,
  timeoutMs = 10_000,
): Promise<unknown> {
  try {
    return await controlRequest(path, req, timeoutMs);
  } catch (e) {
    if (e instanceof ControlError && e.message.includes("unknown control command")) {
      throw new Error(
        `the instance at ${path} runs no balancer (it is an \`lb.ts stack\`; use \`lb.ts run\`)`,
      );
    }
    throw e;
  }
}

/**
 * `lb.ts list [--stats | --rate | --conns] [--control PATH] [--json]`; `--conns` is `lb.ts conns`
 * (as `ipvsadm -L -c` is `ipvsadm -L` with the connection entries).
 */
export async function listCommand(args: string[]): Promise<number> {
  if (args.includes("--conns")) return connsCommand(args.filter((a) => a !== "--conns"));
  const { flags } = parseFlags("list", args, {
    control: { type: "string" },
    json: { type: "boolean" },
    stats: { type: "boolean" },
    rate: { type: "boolean" },
  });
  const path = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const snap = await ask(path, { cmd: LB_LIST }) as BalancerSnapshot & { bgp?: BgpStatus };
  if (flags.json === true) console.log(JSON.stringify(snap, null, 2));
  else if (flags.rate === true) console.log(formatRates(snap));
  else console.log(flags.stats === true ? formatStats(snap) : formatServices(snap));
  // --bgp: the sessions and each VIP's announce state after the table.
  if (flags.json !== true && snap.bgp !== undefined) console.log("\n" + formatBgp(snap.bgp));
  return 0;
}

/** `lb.ts conns [--limit N] [--control PATH] [--json]`. */
export async function connsCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("conns", args, {
    control: { type: "string" },
    json: { type: "boolean" },
    limit: { type: "string" },
  });
  const path = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const l = str(flags, "limit");
  const limit = l === undefined ? undefined : intArg(l, "--limit", 1, 1_000_000);
  const snap = await ask(path, { cmd: LB_CONNS, limit }, 30_000) as ConnsSnapshot;
  if (flags.json === true) {
    console.log(JSON.stringify(snap, null, 2));
    return 0;
  }
  console.log(formatConns(snap));
  if (snap.truncated) {
    console.error(
      `lb.ts: showing ${snap.entries.length} of ${snap.size} flows (--limit N for more)`,
    );
  }
  return 0;
}
