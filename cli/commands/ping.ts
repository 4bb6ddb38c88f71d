/**
 * `lb.ts ping [--tap NAME --ip ADDR/PREFIX [--gateway IP]] [-c N] [-i S] [-s N] [-t TTL] [-W S]
 * [-M do|dont] HOST`: ICMP echo from the userspace stack, printed like iputils `ping`. With
 * `--tap` it runs its own short-lived host on that TAP; without, it asks the running instance
 * (`--control PATH`) to send the echoes. HOST is an IPv4 or IPv6 address (the stack has no
 * resolver); an IPv6 one needs the host to have an IPv6 address (`--ip ADDR6/PREFIX`).
 *
 * @module
 */
import { type Flags, intArg, numberArg, parseFlags, str, UsageError } from "../args.ts";
import { DEFAULT_CONTROL_PATH, HOST_FLAG_SPEC, hostOptions } from "../host_flags.ts";
import { controlRequest } from "../control/client.ts";
import type { ControlRequest } from "../control/protocol.ts";
import type { Stack } from "../../stack/net/stack.ts";
import { formatIpv4, parseIpv4 } from "../../stack/wire/address.ts";
import { formatIpv6, parseIpv6 } from "../../stack/wire/address6.ts";

/** One echo's outcome as the stack reports it (null: no reply in time). */
interface PingReply {
  /** IPv4 as a number, IPv6 as text. */
  from: number | string;
  bytes: number;
  ttl: number;
  seq: number;
  rttMs: number;
}

/** What one echo needs, as sent over the control channel. */
interface EchoRequest {
  /** IPv4 as a number, IPv6 as text. */
  host: number | string;
  size: number;
  ttl: number;
  seq: number;
  id: number;
  timeoutMs: number;
  dontFragment: boolean;
}

/** The control handler a running instance serves for `lb.ts ping` without `--tap`. */
export function pingHandler(stack: Stack) {
  return (req: ControlRequest): Promise<PingReply | null> => {
    const r = req as unknown as EchoRequest;
    // The control socket is input like any other: check what the CLI side checks.
    const int = (v: unknown, min: number, max: number) =>
      typeof v === "number" && Number.isInteger(v) && v >= min && v <= max;
    const host6 = typeof r.host === "string" ? parseIpv6(r.host) : null;
    if (
      (host6 === null && !int(r.host, 1, 0xffffffff)) || !int(r.size, 0, 65507) ||
      !int(r.ttl, 1, 255) ||
      !int(r.seq, 0, 0xffff) || !int(r.id, 0, 0xffff) || !int(r.timeoutMs, 1, 3_600_000) ||
      typeof r.dontFragment !== "boolean"
    ) {
      return Promise.reject(new Error("ping: bad request (host, size, ttl, seq, id, timeoutMs)"));
    }
    if (host6 !== null) {
      if (stack.ipv6 === null) {
        return Promise.reject(new Error("ping: this host has no IPv6 address (--ip ADDR6/PREFIX)"));
      }
      return stack.ipv6.ping(host6, {
        size: r.size,
        hopLimit: r.ttl,
        seq: r.seq,
        id: r.id,
        timeoutMs: r.timeoutMs,
      });
    }
    return stack.ping(r.host as number, {
      size: r.size,
      ttl: r.ttl,
      seq: r.seq,
      id: r.id,
      timeoutMs: r.timeoutMs,
      dontFragment: r.dontFragment,
    });
  };
}

const SPEC = {
  ...HOST_FLAG_SPEC,
  count: { type: "string", short: "c" },
  interval: { type: "string", short: "i" },
  size: { type: "string", short: "s" },
  ttl: { type: "string", short: "t" },
  timeout: { type: "string", short: "W" },
  pmtudisc: { type: "string", short: "M" },
} as const;

/** Runs `lb.ts ping`; returns the exit code (0 some reply, 1 none, like iputils ping). */
export async function pingCommand(args: string[]): Promise<number> {
  const { flags, positionals } = parseFlags("ping", args, SPEC, true);
  if (positionals.length !== 1) {
    throw new UsageError("ping: give exactly one HOST (an IPv4 or IPv6 address)");
  }
  const v4 = parseIpv4(positionals[0]);
  const v6 = v4 === null ? parseIpv6(positionals[0]) : null;
  if (v4 === null && v6 === null) {
    throw new UsageError(
      `ping: "${positionals[0]}" is not an IPv4 or IPv6 address (no name resolution)`,
    );
  }
  const host: number | string = v4 ?? formatIpv6(v6!);
  const count = flag(flags, "count", (t) => intArg(t, "-c", 1, 1_000_000), Infinity);
  const intervalMs = flag(flags, "interval", (t) => numberArg(t, "-i", 0.01, 3600), 1) * 1000;
  const size = flag(flags, "size", (t) => intArg(t, "-s", 0, 65507), 56);
  const ttl = flag(flags, "ttl", (t) => intArg(t, "-t", 1, 255), 64);
  const timeoutMs = Math.round(
    flag(flags, "timeout", (t) => numberArg(t, "-W", 0.01, 3600), 1) * 1000,
  );
  const pmtu = str(flags, "pmtudisc") ?? "dont";
  if (pmtu !== "do" && pmtu !== "dont") throw new UsageError(`-M: "${pmtu}" is not do or dont`);

  let echo: (req: EchoRequest) => Promise<PingReply | null>;
  let close = () => {};
  if (str(flags, "tap") !== undefined) {
    const opts = hostOptions("ping", flags);
    const { startInstance } = await import("../instance.ts");
    const inst = startInstance({ ...opts, control: null });
    const handler = pingHandler(inst.stack);
    echo = (r) => handler({ cmd: "ping", ...r });
    close = () => inst.close();
  } else {
    for (const f of ["ip", "gateway", "mac", "mtu", "pcap", "impair"]) {
      if (flags[f] !== undefined) throw new UsageError(`ping: --${f} only applies with --tap`);
    }
    const path = str(flags, "control") ?? DEFAULT_CONTROL_PATH;
    echo = async (r) =>
      await controlRequest(path, { cmd: "ping", ...r }, r.timeoutMs + 5000) as PingReply | null;
  }

  const name = typeof host === "number" ? formatIpv4(host) : host;
  // iputils' first line: IPv4 counts the IP and ICMP headers, IPv6 prints the data size.
  console.log(
    typeof host === "number"
      ? `PING ${name} (${name}) ${size}(${size + 28}) bytes of data.`
      : `PING ${name}(${name}) ${size} data bytes`,
  );
  const rtts: number[] = [];
  let sent = 0;
  let interrupted = false;
  const onSignal = () => interrupted = true;
  Deno.addSignalListener("SIGINT", onSignal);
  const id = Deno.pid & 0xffff;
  const started = performance.now();
  try {
    for (let seq = 1; seq <= count && !interrupted; seq++) {
      const t0 = performance.now();
      sent++;
      const reply = await echo({
        host,
        size,
        ttl,
        seq: seq & 0xffff,
        id,
        timeoutMs,
        dontFragment: pmtu === "do",
      });
      if (reply !== null) {
        rtts.push(reply.rttMs);
        console.log(
          `${reply.bytes} bytes from ${
            typeof reply.from === "number" ? formatIpv4(reply.from) : reply.from
          }: icmp_seq=${seq} ttl=${reply.ttl} ` +
            `time=${reply.rttMs.toFixed(3)} ms`,
        );
      }
      if (seq < count && !interrupted) {
        const wait = intervalMs - (performance.now() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    close();
  }
  const elapsed = Math.round(performance.now() - started);
  const loss = sent === 0 ? 0 : Math.round(((sent - rtts.length) / sent) * 100);
  console.log(`\n--- ${name} ping statistics ---`);
  console.log(
    `${sent} packets transmitted, ${rtts.length} received, ${loss}% packet loss, time ${elapsed}ms`,
  );
  if (rtts.length > 0) {
    const min = Math.min(...rtts);
    const max = Math.max(...rtts);
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    const mdev = Math.sqrt(rtts.reduce((a, b) => a + (b - avg) ** 2, 0) / rtts.length);
    console.log(
      `rtt min/avg/max/mdev = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)}/` +
        `${mdev.toFixed(3)} ms`,
    );
  }
  return rtts.length > 0 ? 0 : 1;
}

function flag<T>(flags: Flags, name: string, parse: (t: string) => T, fallback: T): T {
  const v = str(flags, name);
  return v === undefined ? fallback : parse(v);
}
