/**
 * TCP benchmark driver.
 *
 * 1. In memory (no root): one Stack fed 1448-byte in-order data segments of one connection
 *    through `stack.input` (IPv4 + TCP validation with checksums, state machine, copy into the
 *    receive ring, an ACK every second segment through the device), with the application reading;
 *    reports ns per segment and the bytes allocated per segment by the stack's code, sampled
 *    with V8's heap profiler (0 when the fast path allocates nothing; scripts/bench/_alloc.ts).
 *    Then the same over IPv6 (the stack configured with `ipv6: ["2001:db8::1/64"]`, `dad:
 *    false`, listening on "::"): 1428-byte segments, so that the frames are the same 1502 bytes
 *    as the IPv4 ones. `TCP_BENCH_FAMILY=4` or `=6` (environment) measures only one family.
 * 2. Over a TAP in network namespaces (root): bulk throughput kernel -> userspace stack and
 *    userspace stack -> kernel, next to kernel -> kernel over veth and a bridge in the same run,
 *    the same two bulk transfers again with the TAP's offloads (`--offload`: virtio-net headers,
 *    64 KB super-frames both ways, stack/link/offload.ts, stack/tcp/tso.ts), and connections per
 *    second accepted by the stack (HTTP/1.0 requests from a python asyncio client, 100 at a
 *    time). Then, with `--ipv6` (or alone with `--ipv6-only`), the four bulk transfers over IPv6
 *    on the same TAP (fd00:81::1/64 the kernel, fd00:81::2/64 the stack, `nodad`), next to
 *    kernel -> kernel over IPv6.
 *
 * usage: scripts/deno run -A scripts/bench/tcp_bench.ts [MB (default 1000)] [--memory-only]
 *   [--offload-only] (only the two bulk measures with offloads) [--ipv6] [--ipv6-only]
 *   [--tcp JSON] (TCP options of the offload rows' host, e.g. '{"receiveBuffer":4194304}';
 *   default: the stack's defaults)
 *
 * The offload rows run this file again as the userspace host inside the namespace
 * (`--host TAP CIDR TCPJSON discard PORT` or `--host TAP CIDR TCPJSON blast IP PORT N`, TAP opened
 * with offloads); it does what tests/netns/_tcp_host.ts's jobs of the same names do. The IPv6 rows
 * run it for all four (`--host TAP CIDR TCPJSON --ipv6 CIDR6 [--plain] JOB ...`).
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
import { parseIpv6 } from "../../stack/wire/address6.ts";
import { sampledAllocation } from "./_alloc.ts";
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

const SRC6 = parseIpv6("2001:db8::2")!;
const DST6 = parseIpv6("2001:db8::1")!;

/** The L3 header length of the measured family. */
const l3Len = (v6: boolean) => v6 ? 40 : 20;

function frame(
  mac: Uint8Array,
  seq: number,
  ack: number,
  flags: number,
  payload: number,
  v6 = false,
): Uint8Array {
  return frameIn(
    new Uint8Array(2 + 14 + l3Len(v6) + 20 + payload),
    0,
    mac,
    seq,
    ack,
    flags,
    payload,
    v6,
  );
}

/**
 * {@link frame} written into `buf` at `at + 2` (as the devices read frames: the IP header 4-byte
 * aligned); returns the frame's view.
 */
function frameIn(
  buf: Uint8Array,
  at: number,
  mac: Uint8Array,
  seq: number,
  ack: number,
  flags: number,
  payload: number,
  v6: boolean,
): Uint8Array {
  const t = 14 + l3Len(v6); // TCP header offset
  const f = buf.subarray(at + 2, at + 2 + t + 20 + payload);
  f.set(mac, 0);
  f.set([2, 0, 0, 0, 0, 2], 6);
  if (v6) {
    writeU16(f, 12, 0x86dd);
    f[14] = 0x60;
    writeU16(f, 18, 20 + payload);
    f[20] = 6;
    f[21] = 64;
    f.set(SRC6, 22);
    f.set(DST6, 38);
  } else {
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
  }
  writeU16(f, t, 40000);
  writeU16(f, t + 2, 80);
  writeU32(f, t + 4, seq);
  writeU32(f, t + 8, ack);
  f[t + 12] = 5 << 4;
  f[t + 13] = flags;
  writeU16(f, t + 14, 65535);
  for (let i = 0; i < payload; i++) f[t + 20 + i] = i & 0xff;
  const tcp = new TcpView().wrap(f, t, 20 + payload);
  if (v6) tcp.fillChecksum6(f, 22, 38);
  else tcp.fillChecksum(0x0a000002, 0x0a000001);
  return f;
}

async function inMemory(v6: boolean): Promise<void> {
  const clock = new FakeClock(1000);
  const dev = new MemoryDevice({ mac: new Uint8Array([2, 0, 0, 0, 0, 1]) });
  const stack = new Stack({
    device: dev,
    address: 0x0a000001,
    prefix: 24,
    clock,
    tcp: { timestamps: false, sack: false },
    ...(v6 ? { ipv6: ["2001:db8::1/64"], dad: false } : {}),
  });
  const peerMac = new Uint8Array([2, 0, 0, 0, 0, 2]);
  if (v6) {
    // Known and confirmed, as after Neighbor Discovery.
    stack.ipv6!.neighbors.learn(SRC6, 0, peerMac);
    stack.ipv6!.neighbors.confirm(SRC6);
  } else stack.arp.addStatic(0x0a000002, peerMac);
  const t = 14 + l3Len(v6); // TCP header offset in a frame
  let acks = 0;
  let synAck = 0;
  dev.onSend = (buf, off) => {
    acks++;
    synAck = readU32(buf, off + t + 4);
  };
  const l = stack.listen(v6 ? { port: 80, hostname: "::" } : { port: 80 });
  const syn = frame(dev.mac, 1000, 0, 2, 0, v6);
  stack.input(syn, 0, syn.length);
  const ack = frame(dev.mac, 1001, synAck + 1, 16, 0, v6);
  stack.input(ack, 0, ack.length);
  const conn = await l.accept();
  // 64 prebuilt data segments, re-sequenced in place (RFC 1624 checksum adjust) each round, in
  // one buffer as a device reads them (the word-wise copy and checksum keep a view of the last
  // buffer they saw: one buffer per frame would make them allocate one per segment).
  // The same 1502-byte frames for both families: 1448 bytes of data over IPv4, 1428 over IPv6.
  const K = 64;
  const P = v6 ? 1428 : 1448;
  const slot = 2048;
  const rxBuf = new Uint8Array(K * slot);
  const frames = Array.from(
    { length: K },
    (_, i) => frameIn(rxBuf, i * slot, dev.mac, 1001 + i * P, synAck + 1, 16, P, v6),
  );
  const sink = new Uint8Array(K * P);
  let seq = 1001;
  const round = () => {
    for (let i = 0; i < K; i++) {
      const f = frames[i];
      const old = readU32(f, t + 4);
      const next = (seq + i * P) >>> 0;
      writeU32(f, t + 4, next);
      writeU16(f, t + 16, checksumAdjust32(readU16(f, t + 16), old, next));
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
  // Allocation: V8's sampling heap profiler over 20,000 more segments; only what was allocated
  // under the stack's own code counts.
  const alloc = await sampledAllocation(
    () => round(),
    20_000 / K,
    K,
    (url) => url.includes("/stack/"),
  );
  console.log(
    `in memory${v6 ? " (IPv6)" : ""}: ${(dt * 1e6 / segs).toFixed(0)} ns per ${P}-byte ` +
      `in-order segment (${((segs * P * 8) / (dt / 1000) / 1e9).toFixed(2)} Gbit/s of payload), ` +
      `${(acks / (segs + 2000 * K)).toFixed(2)} ACKs per segment, ` +
      `${alloc.perUnit.toFixed(1)} bytes allocated per segment (sampled)`,
  );
  for (const site of alloc.sites.slice(0, 5)) {
    if (site.perUnit >= 0.5) console.log(`    ${site.perUnit.toFixed(1)} B  ${site.where}`);
  }
  stack.close();
}

// ---------------------------------------------------------------- namespaces

const PY_SINK = `
import socket, sys, time
addr = sys.argv[2] if len(sys.argv) > 2 else "0.0.0.0"
s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((addr, int(sys.argv[1]))); s.listen(16)
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
  const [tap, cidrText, tcpJson, ...more] = args;
  const cidr = parseCidr(cidrText);
  if (cidr === null) throw new Error(`bad address ${cidrText}`);
  // `--ipv6 CIDR6`: an IPv6 address too (no DAD), listening on "::"; `--plain`: no offloads.
  let ipv6: string | null = null;
  let offload = true;
  for (;;) {
    if (more[0] === "--ipv6") ipv6 = more.splice(0, 2)[1];
    else if (more[0] === "--plain") {
      more.shift();
      offload = false;
    } else break;
  }
  const [job, ...rest] = more;
  const stack = new Stack({
    device: TapDevice.open({ name: tap, offload }),
    address: cidr.addr,
    prefix: cidr.prefix,
    tcp: JSON.parse(tcpJson),
    ...(ipv6 === null ? {} : { ipv6: [ipv6], dad: false }),
  });
  const running = stack.start();
  const stop = () => {
    stack.close();
    running.finally(() => Deno.exit(0));
  };
  Deno.addSignalListener("SIGTERM", stop);
  if (job === "discard") {
    const port = Number(rest[0]);
    const l = stack.listen(ipv6 === null ? { port } : { port, hostname: "::" });
    console.log("ready");
    for await (const c of l) discard(c);
    return;
  }
  if (job === "blast") {
    const [ip, port, count] = rest;
    const n = Number(count);
    if (parseIpv4(ip) === null && parseIpv6(ip) === null) throw new Error(`bad address ${ip}`);
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

/**
 * Starts this file as the offload host in the hub namespace; waits for "ready". `opts`: the
 * host's `--ipv6 CIDR6` and `--plain` options.
 */
async function startOffloadHost(
  t: Topology,
  n: TcpNet,
  job: string[],
  opts: string[] = [],
): Promise<Proc> {
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
    ...opts,
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

/** The IPv6 addresses of the namespace rows: k1, the stack, k2. */
const K1_IP6 = "fd00:81::1";
const STACK_IP6 = "fd00:81::2";
const K2_IP6 = "fd00:81::3";

/**
 * The bulk transfers over IPv6 (k1 and k2 given their addresses with `nodad`): kernel -> kernel
 * (when `k2` is there), then kernel -> stack and stack -> kernel, plain and with offloads, the
 * stack being this file's host with `--ipv6`.
 */
async function ipv6Rows(
  t: Topology,
  n: TcpNet,
  k2: string | null,
  bytes: number,
): Promise<string[]> {
  const rows: string[] = [];
  if (k2 !== null) {
    const ksink = t.spawn(k2, ["python3", "-c", PY_SINK, "9100", "::"]);
    await ksink.waitFor("listening");
    const kk = t.spawn(n.k1, ["python3", "-c", PY_SOURCE, K2_IP6, "9100", String(bytes)]);
    const kkm = await lastMatch(kk, /sent (\d+) in ([\d.]+) ms/);
    rows.push(`IPv6 kernel -> kernel (veth, bridge): ${rate(bytes, Number(kkm[2]))}`);
  }
  const host6 = ["--ipv6", `${STACK_IP6}/64`];
  let port = 9101;
  for (const [label, opts] of [["", ["--plain"]], [", --offload", []]] as const) {
    const disc = await startOffloadHost(t, n, ["discard", "9"], [...host6, ...opts]);
    const ks = t.spawn(n.k1, ["python3", "-c", PY_SOURCE, STACK_IP6, "9", String(bytes)]);
    const ksm = await lastMatch(ks, /sent (\d+) in ([\d.]+) ms/);
    rows.push(`IPv6 kernel -> userspace stack (TAP${label}): ${rate(bytes, Number(ksm[2]))}`);
    await disc.stop();
    const sink = t.spawn(n.k1, ["python3", "-c", PY_SINK, String(port), "::"]);
    await sink.waitFor("listening");
    const blast = await startOffloadHost(
      t,
      n,
      ["blast", K1_IP6, String(port++), String(bytes)],
      [...host6, ...opts],
    );
    const bm = await lastMatch(blast, /blasted (\d+) in ([\d.]+) ms/);
    rows.push(`IPv6 userspace stack -> kernel (TAP${label}): ${rate(bytes, Number(bm[2]))}`);
    await blast.status;
  }
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
    const ipv6Only = Deno.args.includes("--ipv6-only");
    if (ipv6Only || Deno.args.includes("--ipv6")) {
      for (const [ns, ip] of [[n.k1, K1_IP6], [k2, K2_IP6]]) {
        await t.execOk(ns, ["ip", "-6", "addr", "add", `${ip}/64`, "dev", "eth0", "nodad"]);
      }
    }
    if (ipv6Only) {
      for (const r of await ipv6Rows(t, n, k2, bytes)) console.log(r);
      return;
    }

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
    if (Deno.args.includes("--ipv6")) rows.push(...await ipv6Rows(t, n, k2, bytes));
    for (const r of rows) console.log(r);
  } finally {
    await t.destroy();
  }
}

if (Deno.args[0] === "--host") {
  await offloadHost(Deno.args.slice(1));
} else {
  const offloadOnly = Deno.args.includes("--offload-only");
  if (!offloadOnly && !Deno.args.includes("--ipv6-only")) {
    const family = Deno.env.get("TCP_BENCH_FAMILY") ?? "both";
    if (family !== "6") await inMemory(false);
    if (family !== "4") await inMemory(true);
  }
  if (!Deno.args.includes("--memory-only")) await namespaces(offloadOnly);
}
