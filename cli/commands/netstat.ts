/**
 * `lb.ts netstat [--control PATH] [-e] [--json]`: the running instance's TCP listeners and
 * connections, printed like `netstat -nat`; `-e` adds a detail line per connection like
 * `ss -ti` (cwnd, ssthresh, rtt, rto, retransmits); `--json` prints the raw rows.
 *
 * @module
 */
import { parseFlags, str } from "../args.ts";
import { DEFAULT_CONTROL_PATH } from "../host_flags.ts";
import { controlRequest } from "../control/client.ts";
import {
  formatNetstat,
  formatTcpUsage,
  type NetstatRow,
  type TcpUsageRow,
} from "../format/netstat.ts";

const SPEC = {
  control: { type: "string" },
  extend: { type: "boolean", short: "e" },
  json: { type: "boolean" },
} as const;

/** Runs `lb.ts netstat`; returns the exit code. */
export async function netstatCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("netstat", args, SPEC);
  const path = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
  const rows = await controlRequest(path, { cmd: "netstat" }) as NetstatRow[];
  console.log(
    flags.json === true
      ? JSON.stringify(rows, null, 2)
      : formatNetstat(rows, flags.extend === true),
  );
  // -e: the usage against TCP's bounds (TIME_WAIT, orphans, buffer memory), like sockstat.
  if (flags.extend === true && flags.json !== true) {
    const usage = await controlRequest(path, { cmd: "tcp.usage" }) as TcpUsageRow;
    console.log(formatTcpUsage(usage));
  }
  return 0;
}
