/**
 * `lb.ts stack --tap NAME --ip ADDR/PREFIX [--gateway IP] [--mac MAC] [--mtu N] [--pcap FILE]
 * [--control PATH]`: a userspace host on a TAP until SIGINT/SIGTERM, then a clean close (the pcap
 * file is written completely).
 *
 * @module
 */
import { parseFlags } from "../args.ts";
import { HOST_FLAG_SPEC, hostOptions } from "../host_flags.ts";
import { readyLine, runUntilSignal, startInstance } from "../instance.ts";

/** Runs `lb.ts stack`; returns the exit code. */
export async function stackCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("stack", args, HOST_FLAG_SPEC);
  const opts = hostOptions("stack", flags);
  const inst = startInstance(opts);
  console.log(readyLine("stack", opts, inst));
  await runUntilSignal(inst);
  console.log("lb.ts: stack stopped");
  return 0;
}
