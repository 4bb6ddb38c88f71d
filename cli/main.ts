/**
 * The lb.ts command line: picks the command and turns every failure into one clear line and an
 * exit code (2 for bad input, 1 for a failure while running), never a stack trace.
 *
 * @module
 */
import { UsageError } from "./args.ts";
import { stackCommand } from "./commands/stack.ts";
import { arpCommand, routeCommand, statsCommand } from "./commands/inspect.ts";
import { pingCommand } from "./commands/ping.ts";

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  stack: {
    run: stackCommand,
    summary: "--tap NAME --ip ADDR/PREFIX [--gateway IP] [--mac MAC] [--mtu N] [--pcap FILE] " +
      "[--control PATH]\n        run a userspace host on a TAP device until SIGINT/SIGTERM",
  },
  ping: {
    run: pingCommand,
    summary: "[--tap NAME --ip ADDR/PREFIX [--gateway IP]] [-c N] [-i S] [-s N] [-t TTL] [-W S] " +
      "HOST\n        ICMP echo from the userspace stack (own host with --tap, else the running one)",
  },
  arp: { run: arpCommand, summary: "[--control PATH] [--json]\n        ARP cache, like arp -a" },
  route: {
    run: routeCommand,
    summary: "[--control PATH] [--json]\n        routing table, like route -n",
  },
  stats: {
    run: statsCommand,
    summary: "[--control PATH] [--json]\n        device and stack counters, drops by reason",
  },
};

/** The usage text. */
export function usage(): string {
  const lines = [
    "usage: deno run --allow-ffi lb.ts <command> [flags]",
    "",
    "A userspace TCP/IP stack on a TAP device, and an L4 load balancer inside it.",
    "",
    "commands:",
  ];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name} ${c.summary}`);
  lines.push(
    "",
    "A running instance is inspected over its control socket (default /run/lbts.sock).",
  );
  return lines.join("\n");
}

/** Runs the command line `args`; returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "help" || name === "--help" || name === "-h") {
    console.log(usage());
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    console.error(`lb.ts: unknown command "${name}" (try: ${Object.keys(COMMANDS).join(", ")})`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`usage: lb.ts ${name} ${command.summary}`);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    return reportError(e);
  }
}

/** Prints one clear line for `e` and returns the exit code. */
export function reportError(e: unknown): number {
  if (e instanceof UsageError) {
    console.error(`lb.ts: ${e.message}`);
    return 2;
  }
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    console.error(`lb.ts: ${e.message}`);
    console.error("lb.ts: lb.ts needs --allow-ffi (deno run --allow-ffi lb.ts ...)");
    return 1;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const hint = (err as { hint?: unknown }).hint;
  console.error(`lb.ts: ${err.message}`);
  // DeviceError and ControlError messages already end with their hint; print it only if not.
  if (typeof hint === "string" && hint !== "" && !err.message.includes(hint)) {
    console.error(`lb.ts: ${hint}`);
  }
  return 1;
}
