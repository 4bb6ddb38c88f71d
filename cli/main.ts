/**
 * The lb.ts command line: picks the command and turns every failure into one clear line and an
 * exit code (2 for bad input, 1 for a failure while running), never a stack trace.
 *
 * @module
 */
import { UsageError } from "./args.ts";
import { stackCommand } from "./commands/stack.ts";
import { arpCommand, neighCommand, routeCommand, statsCommand } from "./commands/inspect.ts";
import { pingCommand } from "./commands/ping.ts";
import { fetchCommand } from "./commands/fetch.ts";
import { netstatCommand } from "./commands/netstat.ts";
import { runCommand } from "./commands/run.ts";
import { connsCommand, listCommand } from "./commands/lb_inspect.ts";
import { demoCommand } from "./commands/demo.ts";
import { drainCommand } from "./commands/drain.ts";
import { adminCommand, reloadCommand, saveCommand } from "./commands/lb_admin.ts";

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, { run: Command; summary: string }> = {
  run: {
    run: runCommand,
    summary: "--tap NAME --ip ADDR/PREFIX [--gateway IP] [--service tcp|udp:VIP:PORT " +
      "[--scheduler rr|wrr|lc|wlc|sh|mh]\n        [--method dr|nat|tun] --real IP[:PORT][,weight=N]" +
      "...]... [--max-conns N]\n        [--timeout-tcp S] [--timeout-tcpfin S] " +
      "[--timeout-udp S] [--mac MAC] [--mtu N] [--pcap FILE] [--control PATH]\n" +
      "        or --config FILE (JSON, examples/lb.json; deno run --allow-read=FILE)\n" +
      "        [--check tcp|http[:PATH[:STATUS]] [--check-interval S] [--check-timeout S] " +
      "[--rise N] [--fall N]]\n        (before any --service: every TCP service; inside a " +
      "--service group: that service)\n" +
      "        [--log-format json|plain] [--metrics ADDR:PORT (needs " +
      "--allow-net=ADDR:PORT)]\n" +
      "        (--metrics: Prometheus /metrics, the status page / and /status.json)\n" +
      "        [--no-offload] (default: virtio-net headers on the TAP, 64 KB TCP super-frames " +
      "forwarded whole)\n" +
      "        [--tcp-mem SIZE] [--max-time-wait N] [--max-orphans N] [--tcp-cc cubic|newreno|bbr]\n" +
      "        [--tcp-recovery rack|rfc6675] (the host's own TCP)\n" +
      "        [--bgp PEER_IP[,as=N][,local-as=N][,bfd]] (announce the VIPs over the instance's " +
      "own BIRD;\n        needs --allow-run=setpriv,ip,birdc --allow-write=CONTROL.bgp; " +
      "SIGTERM then drains)\n" +
      "        the L4 load balancer (IPVS-style) on a TAP device until SIGINT/SIGTERM",
  },
  list: {
    run: listCommand,
    summary:
      "[--stats | --rate | --conns] [--control PATH] [--json]\n        virtual services and real " +
      "servers, like ipvsadm -L -n (--stats, --rate: ipvsadm -L -n --stats, --rate)",
  },
  conns: {
    run: connsCommand,
    summary:
      "[--limit N] [--control PATH] [--json]\n        the balancer's connection table, like " +
      "ipvsadm -L -n -c",
  },
  "add-service": {
    run: adminCommand("add-service"),
    summary: "-t|-u VIP:PORT [-s SCHED] [-p SECONDS] [--control PATH]\n" +
      "        add a virtual service to the running balancer, like ipvsadm -A",
  },
  "edit-service": {
    run: adminCommand("edit-service"),
    summary: "-t|-u VIP:PORT [-s SCHED] [-p SECONDS] [--control PATH]\n" +
      "        change a service's scheduler or persistence, like ipvsadm -E",
  },
  "del-service": {
    run: adminCommand("del-service"),
    summary: "-t|-u VIP:PORT [--control PATH]\n        delete a service and its flows, " +
      "like ipvsadm -D",
  },
  "add-server": {
    run: adminCommand("add-server"),
    summary: "-t|-u VIP:PORT -r IP[:PORT] [-g|-m|-i] [-w WEIGHT] [--control PATH]\n" +
      "        add a real server, like ipvsadm -a",
  },
  "edit-server": {
    run: adminCommand("edit-server"),
    summary: "-t|-u VIP:PORT -r IP[:PORT] [-g|-m|-i] [-w WEIGHT] [--control PATH]\n" +
      "        change a real server's weight or method (new flows), like ipvsadm -e",
  },
  "del-server": {
    run: adminCommand("del-server"),
    summary: "-t|-u VIP:PORT -r IP[:PORT] [--control PATH]\n        delete a real server and " +
      "its flows, like ipvsadm -d",
  },
  clear: {
    run: adminCommand("clear"),
    summary: "[--control PATH]\n        delete every service, like ipvsadm -C",
  },
  zero: {
    run: adminCommand("zero"),
    summary: "[-t|-u VIP:PORT] [--control PATH]\n        zero the traffic counters of one " +
      "service or all, like ipvsadm -Z",
  },
  set: {
    run: adminCommand("set"),
    summary: "[--tcp S] [--tcpfin S] [--udp S] [--max-conns N] [--control PATH]\n        set the " +
      "ESTABLISHED, FIN_WAIT and UDP timeouts (0 = unchanged), like ipvsadm --set;\n        " +
      "--max-conns: the connection table's bound, live (flows over a smaller one stay)",
  },
  save: {
    run: saveCommand,
    summary: "[--control PATH]\n        print the running configuration as a --config file " +
      "(like ipvsadm -S)",
  },
  reload: {
    run: reloadCommand,
    summary: "[--control PATH]\n        re-read the instance's --config file and apply the " +
      "difference (or send it SIGHUP)",
  },
  drain: {
    run: drainCommand,
    summary: "SERVER[:PORT] [-t VIP:PORT] [--timeout S] [--control PATH]\n        weight 0 on " +
      "every service holding SERVER (or the -t one), then wait until its active\n        " +
      "connections reach 0 (exit 0) or the timeout passes (exit 1; default 300 s)\n" +
      "      --all [--timeout S] [--control PATH]\n        the whole instance: withdraw its " +
      "VIPs (--bgp), forward until the router stops\n        sending (or S, default 30 s), " +
      "then stop",
  },
  demo: {
    run: demoCommand,
    summary: "[--scale-out] [--requests N]\n        (root, deno run -A) a client, three kernel " +
      "HTTP servers and the balancer in namespaces;\n        a few hundred requests through the " +
      "VIP, then everything is torn down; --scale-out:\n        three --bgp instances behind a " +
      "BIRD router with ECMP, one killed with SIGKILL",
  },
  stack: {
    run: stackCommand,
    summary: "--tap NAME --ip ADDR/PREFIX [--gateway IP] [--mac MAC] [--mtu N] [--pcap FILE] " +
      "[--control PATH] [--impair SPEC] [--offload] [--serve NAME:PORT]... [--vip IP]...\n" +
      "        run a userspace host on a TAP device until SIGINT/SIGTERM; --serve runs echo:7, " +
      "discard:9,\n        chargen:19 or http:80 on it; --impair loss=2%,reorder=5%,dup=1%," +
      "delay=5ms degrades its link;\n        --vip holds a balancer VIP without ARP and " +
      "accepts IP-in-IP (a TUN real server);\n        --offload puts virtio-net headers on " +
      "the TAP (64 KB TCP super-frames cross it whole);\n        --tcp-mem SIZE (512M), " +
      "--max-time-wait N, --max-orphans N (65536) bound TCP's memory;\n        --tcp-cc " +
      "cubic|newreno|bbr (cubic) and --tcp-recovery rack|rfc6675 (rack) pick its algorithms;\n" +
      "        --ip IPV6/PREFIX (repeatable) adds IPv6 addresses (ND, ping, TCP, UDP), " +
      "--gateway IPV6 their default route,\n        --nodad skips their DAD",
  },
  fetch: {
    run: fetchCommand,
    summary: "URL --tap NAME --ip ADDR/PREFIX [--gateway IP] [-o FILE] [--sha256] [--timeout S]\n" +
      "        HTTP GET over the userspace stack (the seed's /dev/tcp exec), response to stdout",
  },
  ping: {
    run: pingCommand,
    summary: "[--tap NAME --ip ADDR/PREFIX [--gateway IP]] [-c N] [-i S] [-s N] [-t TTL] [-W S] " +
      "HOST\n        ICMP echo from the userspace stack (own host with --tap, else the running one)",
  },
  arp: { run: arpCommand, summary: "[--control PATH] [--json]\n        ARP cache, like arp -a" },
  neigh: {
    run: neighCommand,
    summary: "[--control PATH] [--json]\n        IPv6 neighbor cache, like ip -6 neigh",
  },
  route: {
    run: routeCommand,
    summary: "[-6] [--control PATH] [--json]\n        routing table, like route -n " +
      "(-6: the IPv6 one, like route -n -A inet6)",
  },
  stats: {
    run: statsCommand,
    summary: "[--control PATH] [--json]\n        device and stack counters, drops by reason",
  },
  netstat: {
    run: netstatCommand,
    summary: "[--control PATH] [-e] [--json]\n        TCP listeners and connections, like " +
      "netstat -nat (-e: cwnd, rtt, rto, retrans like ss -ti)",
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
