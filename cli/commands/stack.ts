/**
 * `lb.ts stack --tap NAME --ip ADDR/PREFIX [--gateway IP] [--mac MAC] [--mtu N] [--pcap FILE]
 * [--control PATH] [--impair SPEC] [--offload] [--serve SPEC]...`: a userspace host on a TAP
 * until SIGINT/SIGTERM, then a clean close (the pcap file is written completely). `--serve` runs
 * built-in services on it (`echo:7`, `discard:9`, `chargen:19`, `http:80`; repeatable).
 * `--offload` opens the TAP with virtio-net headers: the kernel hands over 64 KB TCP super-frames
 * (stack/link/offload.ts).
 *
 * `--vip IP` (repeatable) makes the host a TUN real server of the balancer, as Linux is with
 * the VIP on `tunl0`: it holds the VIP without answering or announcing it in ARP (arp_ignore),
 * decapsulates IP-in-IP addressed to it (stack/net/ipip_input.ts), and its `--serve` services
 * listen on the (first) VIP, so their UDP answers carry the VIP as source, as a real server's must.
 *
 * An IPv6 `--vip` (the host needs `--ip` with an IPv6 address too) is held without Neighbor
 * Discovery (`addAddress(vip, 128, { nd: false })`) and IPv6-in-IPv6 addressed to the host is
 * decapsulated (RFC 2473, stack/net/ipv6_tunnel_input.ts), as Linux does with `ip6tnl0`. With no
 * IPv4 VIP, the UDP services listen on the first IPv6 VIP (TCP over IPv6 is not in the stack yet).
 *
 * @module
 */
import { type Flags, ipArg, parseFlags, UsageError } from "../args.ts";
import { formatIpv4 } from "../../stack/wire/address.ts";
import { formatIpv6, parseIpv6 } from "../../stack/wire/address6.ts";
import { acceptIpv6Tunnel } from "../../stack/net/ipv6_tunnel_input.ts";
import { HOST_FLAG_SPEC, hostOptions, OFFLOAD_FLAG_SPEC } from "../host_flags.ts";
import { readyLine, runUntilSignal, startInstance } from "../instance.ts";
import {
  checkServeSpecs,
  formatServeSpec,
  parseServeSpec,
  type RunningServices,
  type ServeSpec,
  startServices,
} from "../../stack/services/serve.ts";

const SPEC = {
  ...HOST_FLAG_SPEC,
  ...OFFLOAD_FLAG_SPEC,
  serve: { type: "string", multiple: true },
  vip: { type: "string", multiple: true },
} as const;

/** The IPv4 `--vip` addresses (u32), validated (IPv6 ones: {@link vip6Addresses}). */
export function vipAddresses(flags: Flags, ownAddress: number): number[] {
  const raw = flags.vip;
  const texts = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return texts.filter((t) => typeof t !== "string" || !t.includes(":")).map((t) => {
    if (typeof t !== "string") throw new UsageError("--vip needs an IPv4 or IPv6 address");
    const ip = ipArg(t, "--vip");
    if (ip === ownAddress) throw new UsageError(`--vip: ${t} is the host's own --ip address`);
    return ip;
  });
}

/**
 * The IPv6 `--vip` addresses, validated; a UsageError for a bad one or when the host has no
 * IPv6 address (`hasIpv6` false).
 */
export function vip6Addresses(flags: Flags, hasIpv6: boolean): Uint8Array[] {
  const raw = flags.vip;
  const texts = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const out: Uint8Array[] = [];
  for (const t of texts) {
    if (typeof t !== "string" || !t.includes(":")) continue;
    const a = parseIpv6(t);
    if (a === null) throw new UsageError(`--vip: "${t}" is not an IPv4 or IPv6 address`);
    if (!hasIpv6) {
      throw new UsageError(`--vip ${t}: the host has no IPv6 address (give one with --ip)`);
    }
    out.push(a);
  }
  return out;
}

/**
 * The `--serve` specs, from repeated flags and comma-separated lists, validated (each bad one, or a
 * clash, is a UsageError).
 */
export function serveSpecs(flags: Flags): ServeSpec[] {
  const raw = flags.serve;
  const texts = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  const specs: ServeSpec[] = [];
  for (const t of texts) {
    if (typeof t !== "string") throw new UsageError("--serve needs a value (e.g. http:80)");
    // One flag may carry a comma-separated list: --serve echo:7,discard:9,http:80.
    for (const item of t.split(",")) {
      if (item === "") throw new UsageError(`--serve: "${t}" has an empty item`);
      const s = parseServeSpec(item);
      if (typeof s === "string") throw new UsageError(`--serve: ${s}`);
      specs.push(s);
    }
  }
  const clash = checkServeSpecs(specs);
  if (clash !== null) throw new UsageError(`--serve: ${clash}`);
  return specs;
}

/** Runs `lb.ts stack`; returns the exit code. */
export async function stackCommand(args: string[]): Promise<number> {
  const { flags } = parseFlags("stack", args, SPEC);
  const opts = hostOptions("stack", flags);
  const specs = serveSpecs(flags);
  const vips = vipAddresses(flags, opts.address);
  const vips6 = vip6Addresses(flags, (opts.ipv6 ?? []).length > 0);
  const inst = startInstance(opts);
  for (const vip of vips) inst.stack.addAddress(vip, { arp: false });
  if (vips.length > 0) inst.stack.acceptIpip();
  const ip6 = inst.stack.ipv6;
  if (ip6 !== null && vips6.length > 0) {
    for (const vip of vips6) ip6.addAddress(vip, 128, { nd: false });
    acceptIpv6Tunnel(ip6, inst.stack.counters);
  }
  let services: RunningServices | null = null;
  if (specs.length > 0) {
    try {
      services = startServices(inst.stack, specs, {
        // With IPv6 addresses the services answer both families (dual-stack sockets on "::");
        // a real server answers from its first VIP (IPv4 first).
        hostname: vips.length > 0
          ? formatIpv4(vips[0])
          : vips6.length > 0
          ? formatIpv6(vips6[0])
          : inst.stack.ipv6 !== null
          ? "::"
          : undefined,
        onError: (name, e) =>
          console.error(`lb.ts: ${name}: ${e instanceof Error ? e.message : e}`),
      });
    } catch (e) {
      inst.close();
      await inst.done;
      throw e;
    }
    console.log(`lb.ts: serving ${specs.map(formatServeSpec).join(", ")}`);
  }
  if (vips.length > 0) {
    console.log(`lb.ts: holding ${vips.map(formatIpv4).join(", ")} (no ARP), IP-in-IP accepted`);
  }
  if (vips6.length > 0) {
    const list = vips6.map((a) => formatIpv6(a)).join(", ");
    console.log(`lb.ts: holding ${list} (no ND), IPv6-in-IPv6 accepted`);
  }
  console.log(readyLine("stack", opts, inst));
  try {
    await runUntilSignal(inst);
  } finally {
    services?.close();
  }
  console.log("lb.ts: stack stopped");
  return 0;
}
