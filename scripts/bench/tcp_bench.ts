/**
 * TCP benchmark driver.
 *
 * 1. In memory (no root): one Stack fed 1448-byte in-order data segments of one connection
 *    through `stack.input` (IPv4 + TCP validation with checksums, state machine, copy into the
 *    receive ring, an ACK every second segment through the device), with the application reading;
 *    reports ns per segment and the bytes allocated per segment by the stack's code, sampled
 *    with V8's heap profiler (0 when the fast path allocates nothing).
 * 2. Over a TAP in network namespaces (root): bulk throughput kernel -> userspace stack and
 *    userspace stack -> kernel, next to kernel -> kernel over veth and a bridge in the same run,
 *    the same two bulk transfers again with the TAP's offloads (`--offload`: virtio-net headers,
 *    64 KB super-frames both ways, stack/link/offload.ts, stack/tcp/tso.ts), and connections per
 *    second accepted by the stack (HTTP/1.0 requests from a python asyncio client, 100 at a
 *    time).
 *
 * usage: scripts/deno run -A scripts/bench/tcp_bench.ts [MB (default 1000)] [--memory-only]
 *   [--offload-only] (only the two bulk measures with offloads) [--tcp JSON] (TCP options of the
 *   offload rows' host, e.g. '{"receiveBuffer":4194304}'; default: the stack's defaults)
 *
 * The offload rows run this file again as the userspace host inside the namespace
 * (`--host TAP CIDR TCPJSON discard PORT` or `--host TAP CIDR TCPJSON blast IP PORT N`, TAP opened
 * with offloads); it does what tests/netns/_tcp_host.ts's jobs of the same names do.
 *
 * @module
 */
import { FakeClock } from "../../stack/clock.ts";
import { MemoryDevice } from "../../stack/link/memory.ts";
import { TapDevice } from "../../stack/link/tap.ts";
import { parseCidr, parseIpv4 } from "../../stack/wire/address.ts";
import { Stack } from "../../stack/net/stack.ts";
import { tcbOf } from "../../stack/tcp/conn.ts";
import { checksumAdjust32 } from "../../stack/wire/checksum.ts";
import { readU16, readU32, writeU16, writeU32 } from "../../stack/wire/bytes.ts";
import { TcpView } from "../../stack/wire/tcp.ts";
import { DENO, type Proc, skipReason, Topology } from "../../tests/netns/topology.ts";
import { discard } from "../../tests/netns/_discard.ts";
import {
  buildTcpNet,
  KERNEL_IP,
  STACK_IP,
  startHost,
  type TcpNet,
} from "../../tests/netns/_tcp_net.ts";

const MB = Number(Deno.args.find((a) => /^\d+$/.test(a)) ?? "1000");
const TCP_JSON = Deno.args.includes("--tcp") ? Deno.args[Deno.args.indexOf("--tcp") + 1] : "{}";

// ---------------------------------------------------------------- in memory

function frame(
  mac: Uint8Array,
  seq: number,
  ack: number,
  flags: number,
  payload: number,
): Uint8Array {
  // At offset 2 of its buffer, as the devices read frames (the IP header 4-byte aligned).
  const f = new Uint8Array(2 + 14 + 20 + 20 + payload).subarray(2);
  f.set(mac, 0);
  f.set([2, 0, 0, 0, 0, 2], 6);
  writeU16(f, 12, 0x0800);
  f[14] = 0x45;
  writeU16(f, 16, 40 + payload);
  f[22] = 64;
  f[23] = 6;
  writeU32(f, 26, 0x0a000002);
  writeU32(f, 30, 0x0a000001);
  let s = 0;
  for (let i = 14; i < 34; i += 2) s += readU16(f, i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  writeU16(f, 24, ~s & 0xffff);
  writeU16(f, 34, 40000);
  writeU16(f, 36, 80);
  writeU32(f, 38, seq);
  writeU32(f, 42, ack);
  f[46] = 5 << 4;
  f[47] = flags;
  writeU16(f, 48, 65535);
  for (let i = 0; i < payload; i++) f[54 + i] = i & 0xff;
  new TcpView().wrap(f, 34, 20 + payload).fillChecksum(0x0a000002, 0x0a000001);
  return f;
}

/**
 * Bytes allocated per unit by `fn` (called `calls` times, `units` units each), measured with
 * V8's sampling heap profiler through node:inspector.
 */
async function sampledAllocation(fn: () => void, calls: number, units: number): Promise<number> {
  const inspector = await import("node:inspector");
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<Record<string, unknown>>((resolve, reject) =>
      session.post(
        method,
        params,
        (e: Error | null, r?: object) =>
          e ? reject(e) : resolve((r ?? {}) as Record<string, unknown>),
      )
    );
  await post("HeapProfiler.enable");
  await post("HeapProfiler.startSampling", { samplingInterval: 64 });
  for (let i = 0; i < calls; i++) fn();
  const { profile } = await post("HeapProfiler.stopSampling");
  session.disconnect();
  interface Node {
    selfSize: number;
    callFrame: { url: string };
    children: Node[];
  }
  // Only what was allocated under the stack's own code counts (not the profiler's session).
  let bytes = 0;
  const walk = (n: Node, inStack: boolean) => {
    const here = inStack || n.callFrame.url.includes("/stack/");
    if (here) bytes += n.selfSize;
    for (const c of n.children) walk(c, here);
  };
  walk((profile as { head: Node }).head, false);
  return bytes / (calls * units);
}

async function inMemory(): Promise<void> {
  const clock = new FakeClock(1000);
  const dev = new MemoryDevice({ mac: new Uint8Array([2, 0, 0, 0, 0, 1]) });
  const stack = new Stack({
    device: dev,
    address: 0x0a000001,
    prefix: 24,
    clock,
    tcp: { timestamps: false, sack: false },
  });
  stack.arp.addStatic(0x0a000002, new Uint8Array([2, 0, 0, 0, 0, 2]));
  let acks = 0;
  let synAck = 0;
  dev.onSend = (buf, off) => {
    acks++;
    synAck = readU32(buf, off + 38);
  };
  const l = stack.listen({ port: 80 });
  const syn = frame(dev.mac, 1000, 0, 2, 0);
  stack.input(syn, 0, syn.length);
  const ack = frame(dev.mac, 1001, synAck + 1, 16, 0);
  stack.input(ack, 0, ack.length);
  const conn = await l.accept();
  // 64 prebuilt data segments, re-sequenced in place (RFC 1624 checksum adjust) each round.
  const K = 64;
  const P = 1448;
  const frames = Array.from(
    { length: K },
    (_, i) => frame(dev.mac, 1001 + i * P, synAck + 1, 16, P),
  );
  const sink = new Uint8Array(K * P);
  let seq = 1001;
  const round = () => {
    for (let i = 0; i < K; i++) {
      const f = frames[i];
      const old = readU32(f, 38);
      const next = (seq + i * P) >>> 0;
      writeU32(f, 38, next);
      writeU16(f, 50, checksumAdjust32(readU16(f, 50), old, next));
      stack.input(f, 0, f.length);
    }
    seq = (seq + K * P) >>> 0;
    stack.tcp.flush();
    tcbOf(conn).rcvBuf!.read(sink, 0, sink.length);
    stack.tcp.afterRead(tcbOf(conn));
  };
  for (let r = 0; r < 2000; r++) round(); // warm up
  const rounds = 20_000;
  const t0 = performance.now();
  for (let r = 0; r < rounds; r++) round();
  const dt = performance.now() - t0;
  const segs = rounds * K;
  // Allocation: V8's sampling heap profiler over 20,000 more segments.
  const perSegment = await sampledAllocation(() => round(), 20_000 / K, K);
  console.log(
    `in memory: ${(dt * 1e6 / segs).toFixed(0)} ns per 1448-byte in-order segment ` +
      `(${((segs * P * 8) / (dt / 1000) / 1e9).toFixed(2)} Gbit/s of payload), ` +
      `${(acks / (segs + 2000 * K)).toFixed(2)} ACKs per segment, ` +
      `${perSegment.toFixed(1)} bytes allocated per segment (sampled)`,
  );
  stack.close();
}

// ---------------------------------------------------------------- namespaces

const PY_SINK = `
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(16)
print("listening", flush=True)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept(); t0 = time.time(); n = 0
    while True:
        k = c.recv_into(buf)
        if not k: break
        n += k
    c.close()
    print("sank %d in %.1f ms" % (n, (time.time() - t0) * 1000), flush=True)
`;

const PY_SOURCE = `
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
buf = bytes(1 << 20)
s = socket.create_connection((host, port)); t0 = time.time(); off = 0
while off < n:
    k = min(len(buf), n - off); s.sendall(buf[:k] if k < len(buf) else buf); off += k
s.shutdown(socket.SHUT_WR)
while s.recv(4096): pass
print("sent %d in %.1f ms" % (n, (time.time() - t0) * 1000), flush=True)
`;

const PY_CPS = `
import asyncio, sys, time
host, port, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
async def one():
    r, w = await asyncio.open_connection(host, port)
    w.write(b"GET / HTTP/1.0\\r\\n\\r\\n"); await w.drain()
    await r.read(); w.close()
async def worker(k):
    for _ in range(k): await one()
async def main():
    t0 = time.time()
    await asyncio.gather(*(worker(n // conc) for _ in range(conc)))
    dt = time.time() - t0
    print("cps %.0f (%d connections in %.2f s)" % (n / dt, n, dt), flush=True)
asyncio.run(main())
`;

function rate(bytes: number, ms: number): string {
  return `${((bytes * 8) / (ms / 1000) / 1e9).toFixed(2)} Gbit/s`;
}

async function lastMatch(p: Proc, re: RegExp): Promise<RegExpMatchArray> {
  await p.waitFor(re, 300_000);
  return p.output().match(re)!;
}

// ---------------------------------------------------------------- the offload host

/**
 * `--host TAP CIDR TCPJSON JOB ...`: a Stack (TCP options TCPJSON) on the TAP opened with
 * offloads, doing `discard PORT` (read
 * every connection to EOF, print "discarded N bytes in MS ms") or `blast IP PORT N` (write N zero
 * bytes, close, print "blasted N in MS ms"), as tests/netns/_tcp_host.ts does without offloads.
 * Prints "ready" once listening or connected; exits on SIGTERM or when the blast is done.
 */
async function offloadHost(args: string[]): Promise<void> {
  const [tap, cidrText, tcpJson, job, ...rest] = args;
  const cidr = parseCidr(cidrText);
  if (cidr === null) throw new Error(`bad address ${cidrText}`);
  const stack = new Stack({
    device: TapDevice.open({ name: tap, offload: true }),
    address: cidr.addr,
    prefix: cidr.prefix,
    tcp: JSON.parse(tcpJson),
  });
  const running = stack.start();
  const stop = () => {
    stack.close();
    running.finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  if (job === "discard") {
    const l = stack.listen({ port: Number(rest[0]) });
    console.log("ready");
    for await (const c of l) discard(c);
    return;
  }
  if (job === "blast") {
    const [ip, port, count] = rest;
    const n = Number(count);
    if (parseIpv4(ip) === null) throw new Error(`bad address ${ip}`);
    const c = await stack.connect({ hostname: ip, port: Number(port), timeoutMs: 10_000 });
    console.log("ready");
    const t0 = performance.now();
    const chunk = new Uint8Array(256 * 1024);
    for (let off = 0; off < n;) {
      off += await c.write(chunk.subarray(0, Math.min(chunk.length, n - off)));
    }
    await c.closeWrite();
    const buf = new Uint8Array(1024);
    while ((await c.read(buf)) !== null) { /* until the peer closes */ }
    c.close();
    console.log(`blasted ${n} in ${(performance.now() - t0).toFixed(1)} ms`);
    console.log(
      `tso frames ${stack.counters.get("tcp.tso_frames")}, ` +
        `retransmits ${stack.counters.get("tcp.retransmits")}`,
    );
    stop();
    return;
  }
  throw new Error(`unknown job ${job}`);
}

/** Starts this file as the offload host in the hub namespace; waits for "ready". */
async function startOffloadHost(t: Topology, n: TcpNet, job: string[]): Promise<Proc> {
  const self = new URL(import.meta.url).pathname;
  const p = t.spawn(n.hub, [
    DENO,
    "run",
    "-A",
    self,
    "--host",
    n.tap,
    `${STACK_IP}/24`,
    TCP_JSON,
    ...job,
  ]);
  await p.waitFor("ready", 30_000);
  return p;
}

/** The two bulk transfers with offloads on the TAP, as rows. */
async function offloadRows(t: Topology, n: TcpNet, bytes: number): Promise<string[]> {
  const rows: string[] = [];
  const disc = await startOffloadHost(t, n, ["discard", "9"]);
  const ks = t.spawn(n.k1, ["python3", "-c", PY_SOURCE, STACK_IP, "9", String(bytes)]);
  const ksm = await lastMatch(ks, /sent (\d+) in ([\d.]+) ms/);
  rows.push(`kernel -> userspace stack (TAP, --offload): ${rate(bytes, Number(ksm[2]))}`);
  await disc.stop();
  const sink = t.spawn(n.k1, ["python3", "-c", PY_SINK, "9002"]);
  await sink.waitFor("listening");
  const blast = await startOffloadHost(t, n, ["blast", KERNEL_IP, "9002", String(bytes)]);
  const bm = await lastMatch(blast, /blasted (\d+) in ([\d.]+) ms/);
  rows.push(`userspace stack -> kernel (TAP, --offload): ${rate(bytes, Number(bm[2]))}`);
  await blast.status;
  return rows;
}

async function namespaces(offloadOnly: boolean): Promise<void> {
  if (skipReason !== null) {
    console.log(`namespace part skipped: ${skipReason}`);
    return;
  }
  const t = new Topology();
  try {
    const n = await buildTcpNet(t);
    if (offloadOnly) {
      for (const r of await offloadRows(t, n, MB * 1024 * 1024)) console.log(r);
      return;
    }
    const k2 = await t.netns("k2");
    const br = await t.execOk(n.hub, ["ip", "-j", "link", "show", "type", "bridge"]);
    const brName = JSON.parse(br)[0].ifname as string;
    await t.attach(k2, n.hub, brName, "eth0", "10.81.0.3/24");
    const bytes = MB * 1024 * 1024;
    const rows: string[] = [];

    // kernel -> kernel over veth + bridge
    const ksink = t.spawn(k2, ["python3", "-c", PY_SINK, "9000"]);
    await ksink.waitFor("listening");
    const kk = t.spawn(n.k1, ["python3", "-c", PY_SOURCE, "10.81.0.3", "9000", String(bytes)]);
    const kkm = await lastMatch(kk, /sent (\d+) in ([\d.]+) ms/);
    rows.push(`kernel -> kernel (veth, bridge): ${rate(bytes, Number(kkm[2]))}`);

    // kernel -> stack
    const disc = await startHost(t, n, ["discard", "9"]);
    const ks = t.spawn(n.k1, ["python3", "-c", PY_SOURCE, STACK_IP, "9", String(bytes)]);
    const ksm = await lastMatch(ks, /sent (\d+) in ([\d.]+) ms/);
    rows.push(`kernel -> userspace stack (TAP): ${rate(bytes, Number(ksm[2]))}`);
    await disc.stop();

    // stack -> kernel
    const sink = t.spawn(n.k1, ["python3", "-c", PY_SINK, "9001"]);
    await sink.waitFor("listening");
    const blast = await startHost(t, n, ["blast", KERNEL_IP, "9001", String(bytes)]);
    const bm = await lastMatch(blast, /blasted (\d+) in ([\d.]+) ms/);
    rows.push(`userspace stack -> kernel (TAP): ${rate(bytes, Number(bm[2]))}`);
    await blast.status;

    // the same two with offloads on the TAP
    rows.push(...await offloadRows(t, n, bytes));

    // connections per second accepted by the stack
    const http = await startHost(t, n, ["http", "80"], { timeWaitMs: 1000 });
    const cps = await t.execOk(
      n.k1,
      ["python3", "-c", PY_CPS, STACK_IP, "80", "10000", "100"],
      300_000,
    );
    rows.push(`connections accepted by the stack, HTTP/1.0 GET /, 100 at a time: ${cps.trim()}`);
    await http.stop();
    for (const r of rows) console.log(r);
  } finally {
    await t.destroy();
  }
}

if (Deno.args[0] === "--host") {
  await offloadHost(Deno.args.slice(1));
} else {
  const offloadOnly = Deno.args.includes("--offload-only");
  if (!offloadOnly) await inMemory();
  if (!Deno.args.includes("--memory-only")) await namespaces(offloadOnly);
}
