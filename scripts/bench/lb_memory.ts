/**
 * The balancer's memory with FLOWS tracked flows (the target: 1,000,000 tracked flows in at
 * most 256 MiB of the balancer's memory).
 *
 *   scripts/deno run -A scripts/bench/lb_memory.ts [FLOWS] [--method nat|dr|tun]
 *     [--scheduler NAME]
 *
 * FLOWS defaults to 1,000,000; the method to nat, the scheduler to wlc (`lb.ts run`'s default).
 * The balancer is built the way `lb.ts run` builds it (cli/commands/run.ts): its flags go through
 * lb/config.ts (`--service tcp:10.0.0.100:80 --scheduler S --method M --real` x3
 * `--max-conns FLOWS`), then `new Balancer`, `addService`, `attach`, on a Stack with the system
 * clock. Only the device differs: an in-memory device without a peer (stack/link/memory.ts)
 * instead of the TAP, so what the balancer forwards is counted and goes nowhere.
 *
 * FLOWS distinct clients (address, port) each send their first SYN through `Stack.input` as a
 * real Ethernet frame, built with the stack/wire builders into one reused buffer (NAT rewrites
 * the frame in place, so it is rebuilt per flow). `Deno.memoryUsage()` is read three times:
 * "baseline" (the Deno runtime with this module loaded), "idle" (the balancer built: its
 * connection table is allocated up front for --max-conns) and "after" the flows. The process's
 * whole RSS is reported as it is; `bytesPerFlow` is (after.rss - idle.rss) / flows, and
 * `tableBytes` what the connection table's typed arrays take. With
 * `--v8-flags=--expose-gc` a full GC runs before each reading (otherwise heap figures include
 * garbage not yet collected).
 *
 * Prints one JSON line and one human line on stdout. Bounded: the feed stops after 55 s
 * (then "complete": false and exit code 3); bad arguments: one line on stderr, exit code 2.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { Stack } from "../../stack/net/stack.ts";
import { createMemoryDevice } from "../../stack/link/memory.ts";
import { Balancer } from "../../lb/balancer.ts";
import {
  balancerConfigFromFlags,
  buildServices,
  checkAgainstHost,
  ConfigError,
  MAX_CONNS_LIMIT,
} from "../../lb/config.ts";
import { PROTO_TCP } from "../../lb/conntrack/table.ts";
import { TCP_SYN } from "../../lb/conntrack/tcp_states.ts";
import { formatIpv4, parseIpv4 } from "../../stack/wire/address.ts";
import { writeEthernetHeader } from "../../stack/wire/ethernet.ts";
import { IP_PROTO_TCP, newIpv4Header, writeIpv4Header } from "../../stack/wire/ipv4.ts";
import { newTcpHeader, TcpView, writeTcpHeader } from "../../stack/wire/tcp.ts";

const DEFAULT_FLOWS = 1_000_000;
/** The feed stops here, so the whole run stays under a minute. */
const FEED_LIMIT_MS = 55_000;
/** The budget for 1 M flows. */
const TARGET_MIB = 256;
const MIB = 1024 * 1024;
const LB_ADDRESS = "10.0.0.1";
const VIP = "10.0.0.100";
const REALS = ["10.0.0.11", "10.0.0.12", "10.0.0.13"];
/** Clients 11.x.y.z, 16384 source ports each (1024..17407): 62 addresses for 1 M flows. */
const CLIENT_BASE = 0x0b000000;
const PORTS_PER_CLIENT = 16384;
const CLIENT_MAC = new Uint8Array([2, 0, 0, 0, 0, 0x32]);
const ETHERTYPE_IPV4 = 0x0800;

/** One `Deno.memoryUsage()` reading, in bytes. */
export interface MemoryReading {
  rss: number;
  heapUsed: number;
  external: number;
}

/** Collects garbage first when V8 exposes `gc` (`--v8-flags=--expose-gc`), then reads. */
function readMemory(): MemoryReading {
  // gc exists only with --expose-gc; it is not in Deno's global type.
  (globalThis as { gc?: () => void }).gc?.();
  const m = Deno.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external };
}

function usage(message: string): never {
  console.error(`lb_memory: ${message}`);
  Deno.exit(2);
}

/** The command line: FLOWS, method, scheduler; a bad one ends the process with code 2. */
function parseCommandLine(args: string[]): { flows: number; method: string; scheduler: string } {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      options: { method: { type: "string" }, scheduler: { type: "string" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    usage(e instanceof Error ? e.message.split(". ")[0] : String(e));
  }
  if (parsed.positionals.length > 1) usage("expected at most one FLOWS argument");
  const text = parsed.positionals[0] ?? String(DEFAULT_FLOWS);
  const flows = Number(text.replaceAll("_", ""));
  if (!/^[0-9_]+$/.test(text) || !Number.isInteger(flows) || flows < 1) {
    usage(`FLOWS "${text}" is not a whole number >= 1`);
  }
  if (flows > MAX_CONNS_LIMIT) {
    usage(`FLOWS ${flows} is above --max-conns' limit ${MAX_CONNS_LIMIT}`);
  }
  return {
    flows,
    method: parsed.values.method ?? "nat",
    scheduler: parsed.values.scheduler ?? "wlc",
  };
}

/** A stack and a balancer as `lb.ts run --ip 10.0.0.1/24 --service ... --max-conns FLOWS`. */
function buildBalancer(flows: number, method: string, scheduler: string) {
  const flags = [
    { name: "service", value: `tcp:${VIP}:80` },
    { name: "scheduler", value: scheduler },
    { name: "method", value: method },
    ...REALS.map((r) => ({ name: "real", value: r })),
    { name: "max-conns", value: String(flows) },
  ];
  const host = { address: parseIpv4(LB_ADDRESS)!, prefix: 24 };
  let config;
  try {
    config = balancerConfigFromFlags(flags);
    checkAgainstHost(config, host);
  } catch (e) {
    if (e instanceof ConfigError) usage(e.message);
    throw e;
  }
  const device = createMemoryDevice({ name: "mem-lb" });
  const stack = new Stack({ device, address: host.address, prefix: host.prefix });
  // What ARP would learn from the real servers' first replies; here nobody answers.
  REALS.forEach((r, i) => stack.arp.addStatic(parseIpv4(r)!, new Uint8Array([2, 0, 0, 0, 1, i])));
  const balancer = new Balancer(stack, { maxConns: config.maxConns, timeouts: config.timeouts });
  for (const service of buildServices(config)) balancer.addService(service);
  balancer.attach();
  return { stack, balancer, device };
}

/**
 * Feeds `flows` first SYNs, one distinct client (address, port) each, through `stack.input`;
 * returns how many were fed before the time bound. One buffer and one set of header objects
 * serve every frame.
 */
function feedSyns(stack: Stack, flows: number, deadline: number): number {
  const buf = new Uint8Array(2 + 14 + 20 + 20);
  const ip = newIpv4Header();
  ip.dst = parseIpv4(VIP)!;
  ip.protocol = IP_PROTO_TCP;
  ip.payloadLen = 20;
  const tcp = newTcpHeader();
  tcp.dstPort = 80;
  tcp.flags = TCP_SYN;
  tcp.window = 64240;
  const view = new TcpView();
  const mac = stack.device.mac;
  for (let i = 0; i < flows; i++) {
    if ((i & 4095) === 0 && performance.now() > deadline) return i;
    ip.src = (CLIENT_BASE + Math.floor(i / PORTS_PER_CLIENT)) >>> 0;
    ip.id = i & 0xffff;
    tcp.srcPort = 1024 + (i % PORTS_PER_CLIENT);
    tcp.seq = Math.imul(i, 2654435761) >>> 0; // distinct ISNs, as real clients have
    // The frame at offset 2, so the IP header is 4-byte aligned as in the device's buffers.
    writeEthernetHeader(buf, 2, mac, CLIENT_MAC, ETHERTYPE_IPV4);
    writeIpv4Header(buf, 16, ip);
    writeTcpHeader(buf, 36, tcp);
    view.wrap(buf, 36, 20).fillChecksum(ip.src, ip.dst);
    stack.input(buf, 2, 54);
  }
  return flows;
}

function mib(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}

function main(): number {
  const { flows, method, scheduler } = parseCommandLine(Deno.args);
  const baseline = readMemory();
  const { stack, balancer, device } = buildBalancer(flows, method, scheduler);
  const idle = readMemory();
  const start = performance.now();
  const fed = feedSyns(stack, flows, start + FEED_LIMIT_MS);
  const seconds = (performance.now() - start) / 1000;
  const after = readMemory();
  const snapshot = balancer.snapshot();
  const complete = fed === flows;
  const tracked = balancer.conns.size;
  // A spot check that the table holds the flows themselves, not just a count: the last one.
  const last = fed - 1;
  const lastSlot = balancer.conns.lookupIn(
    PROTO_TCP,
    (CLIENT_BASE + Math.floor(last / PORTS_PER_CLIENT)) >>> 0,
    1024 + (last % PORTS_PER_CLIENT),
    parseIpv4(VIP)!,
    80,
  );
  const result = {
    flows,
    fed,
    complete,
    method,
    scheduler,
    feedSeconds: Number(seconds.toFixed(2)),
    flowsPerSecond: Math.round(fed / seconds),
    tracked,
    listConnections: snapshot.connections,
    capacity: snapshot.capacity,
    lastFlowReal: lastSlot < 0 ? null : formatIpv4(balancer.conns.realIp(lastSlot)),
    forwarded: device.stats.txFrames,
    /** Flows per real server (the scheduler spread them; each is one entry in the table). */
    realConns: Object.fromEntries(
      snapshot.services.flatMap((s) => s.reals.map((r) => [r.address, r.conns])),
    ),
    droppedTableFull: snapshot.table.refused,
    memory: { baseline, idle, after },
    bytesPerFlow: Math.round((after.rss - idle.rss) / Math.max(1, tracked)),
    tableBytes: balancer.conns.memoryBytes,
    tableBytesPerFlow: Number(balancer.conns.bytesPerFlow.toFixed(1)),
    balancerRss: after.rss - baseline.rss,
    processRss: after.rss,
    targetMiB: TARGET_MIB,
    processWithinTarget: after.rss <= TARGET_MIB * MIB,
    gcBeforeReadings: typeof (globalThis as { gc?: unknown }).gc === "function",
    stackDrops: Object.fromEntries(
      Object.entries(stack.counters.snapshot()).filter(([k]) => k.startsWith("drop.")),
    ),
  };
  console.log(JSON.stringify(result));
  console.log(
    `lb_memory: ${tracked} flows tracked (${method}, ${scheduler}) in ${seconds.toFixed(1)} s; ` +
      `process RSS ${mib(after.rss)} MiB (Deno baseline ${mib(baseline.rss)}, idle balancer ` +
      `${mib(idle.rss)}); ${result.bytesPerFlow} B/flow RSS growth, table ` +
      `${mib(result.tableBytes)} MiB = ${result.tableBytesPerFlow} B/slot; heap ` +
      `${mib(after.heapUsed)} MiB; target ${TARGET_MIB} MiB for the process: ` +
      `${result.processWithinTarget ? "within" : "OVER"}`,
  );
  return complete ? 0 : 3;
}

if (import.meta.main) Deno.exit(main());
