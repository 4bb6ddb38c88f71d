/**
 * A userspace host for the TCP namespace tests, independent of the CLI: opens a TAP, runs a
 * Stack on it, and does one job with its TCP, as the kernel tools do on the other side.
 *
 *   deno run -A tests/netns/_tcp_host.ts --tap NAME --ip 10.0.0.2/24 [--gateway IP]
 *     [--tcp JSON] [--stats FILE] [--impair SPEC] JOB ARGS...
 *
 * Jobs:
 *   echo PORT               echo server (RFC 862)
 *   http PORT               minimal HTTP/1.1 server: "/" (a short body), "/bytes/N" (N pattern
 *                           bytes, streamed), "POST /sha256" (hex sha256 of the body); keep-alive
 *   hold PORT               accepts and never reads
 *   slowsink PORT MS        accepts, waits MS before reading (a zero window meanwhile), reads to
 *                           EOF, answers the hex sha256 of what it read, closes
 *   closer PORT             accepts and closes its side at once (FIN), reads to EOF, closes
 *   discard PORT            accepts any number of connections and reads them to EOF (no hashing:
 *                           for benchmarks); prints "discarded N bytes in MS ms" per connection
 *   blast IP PORT N         connects and writes N zero bytes, closes; prints "blasted N in MS ms"
 *   fetch IP PORT PATH      HTTP/1.0 GET; prints "status S bytes N sha256 H" of the body
 *   send IP PORT N          connects, writes N pattern bytes, closeWrite, reads the reply to EOF;
 *                           prints "sent N sha256 H reply R"
 *   idle IP PORT            connects with keepalive on, waits for the connection to end;
 *                           prints "ended ERRNAME"
 *   close-both IP PORT      connects and closes at once (FIN), waits for TIME_WAIT to clear
 *
 * It prints "ready" when listening or connected, writes `{ tcp, counters }` JSON to the stats
 * file every 200 ms (and at exit), and exits on SIGTERM.
 *
 * @module
 */
import { createHash } from "node:crypto";
import type { Device } from "../../stack/link/device.ts";
import { ImpairedDevice, parseImpairSpec } from "../../stack/link/impair.ts";
import { TapDevice } from "../../stack/link/tap.ts";
import { Stack } from "../../stack/net/stack.ts";
import type { TcpConn } from "../../stack/tcp/conn.ts";
import { discard } from "./_discard.ts";
import type { TcpStackOptions } from "../../stack/tcp/config.ts";
import { parseCidr, parseIpv4 } from "../../stack/wire/address.ts";

const args = [...Deno.args];
function flag(name: string): string | undefined {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
}
const tap = flag("--tap")!;
const cidr = parseCidr(flag("--ip")!)!;
const gw = flag("--gateway");
const tcpJson = flag("--tcp");
const statsFile = flag("--stats");
const impair = flag("--impair");
const tcp: TcpStackOptions = tcpJson ? JSON.parse(tcpJson) : {};
const [job, ...rest] = args;

let device: Device = TapDevice.open({ name: tap, offload: false });
if (impair !== undefined) {
  const spec = parseImpairSpec(impair);
  if (typeof spec === "string") throw new Error(spec);
  device = new ImpairedDevice(device, spec);
}
const stack = new Stack({
  device,
  address: cidr.addr,
  prefix: cidr.prefix,
  gateway: gw ? parseIpv4(gw)! : undefined,
  tcp,
});
const running = stack.start();
const enc = new TextEncoder();

function writeStats(): void {
  if (!statsFile) return;
  const data = JSON.stringify({ tcp: stack.tcpSnapshot(), counters: stack.counters.snapshot() });
  Deno.writeTextFileSync(statsFile + ".tmp", data);
  Deno.renameSync(statsFile + ".tmp", statsFile);
}
const statsTimer = setInterval(writeStats, 200);
let stopping = false;
function stop(code = 0): void {
  if (stopping) return;
  stopping = true;
  clearInterval(statsTimer);
  writeStats();
  stack.close();
  running.finally(() => Deno.exit(code));
}
Deno.addSignalListener("SIGTERM", () => stop(0));

/** Pattern byte i of the /bytes stream: cheap to generate, not periodic at 256. */
function fillPattern(buf: Uint8Array, start: number): void {
  for (let i = 0; i < buf.length; i++) {
    const x = start + i;
    buf[i] = (x ^ (x >>> 8) ^ (x >>> 16)) & 0xff;
  }
}

async function writeAll(c: TcpConn, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) off += await c.write(data.subarray(off));
}

async function serveEcho(c: TcpConn): Promise<void> {
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      await writeAll(c, buf.subarray(0, n));
    }
    await c.closeWrite();
  } catch { /* peer reset */ }
  try {
    c.close();
  } catch { /* closed */ }
}

/** Reads one line (CRLF) from the conn, with a carry-over buffer. */
class LineReader {
  buf = new Uint8Array(0);
  constructor(readonly c: TcpConn) {}
  async fill(): Promise<boolean> {
    const chunk = new Uint8Array(65536);
    const n = await this.c.read(chunk);
    if (n === null) return false;
    const merged = new Uint8Array(this.buf.length + n);
    merged.set(this.buf);
    merged.set(chunk.subarray(0, n), this.buf.length);
    this.buf = merged;
    return true;
  }
  async line(): Promise<string | null> {
    for (;;) {
      const i = this.buf.indexOf(10);
      if (i >= 0) {
        const s = new TextDecoder().decode(this.buf.subarray(0, i)).replace(/\r$/, "");
        this.buf = this.buf.slice(i + 1);
        return s;
      }
      if (!(await this.fill())) return null;
    }
  }
  async body(n: number, sink: (b: Uint8Array) => void): Promise<void> {
    while (n > 0) {
      if (this.buf.length === 0 && !(await this.fill())) throw new Error("eof in body");
      const k = Math.min(n, this.buf.length);
      sink(this.buf.subarray(0, k));
      this.buf = this.buf.slice(k);
      n -= k;
    }
  }
}

async function serveHttp(c: TcpConn): Promise<void> {
  const r = new LineReader(c);
  try {
    for (;;) {
      const reqLine = await r.line();
      if (reqLine === null || reqLine === "") break;
      const [method, path, version] = reqLine.split(" ");
      const headers = new Map<string, string>();
      for (;;) {
        const h = await r.line();
        if (h === null) return;
        if (h === "") break;
        const k = h.indexOf(":");
        headers.set(h.slice(0, k).trim().toLowerCase(), h.slice(k + 1).trim());
      }
      const keepAlive = version === "HTTP/1.1" && headers.get("connection") !== "close";
      const conn = keepAlive ? "keep-alive" : "close";
      let m: RegExpMatchArray | null;
      if (method === "POST" && path === "/sha256") {
        const h = createHash("sha256");
        await r.body(Number(headers.get("content-length") ?? "0"), (b) => h.update(b));
        const body = h.digest("hex") + "\n";
        await writeAll(
          c,
          enc.encode(
            `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: ${conn}\r\n\r\n${body}`,
          ),
        );
      } else if ((m = path.match(/^\/bytes\/(\d+)$/)) !== null) {
        const n = Number(m[1]);
        await writeAll(
          c,
          enc.encode(
            `HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${n}\r\nConnection: ${conn}\r\n\r\n`,
          ),
        );
        const chunk = new Uint8Array(65536);
        for (let off = 0; off < n; off += chunk.length) {
          const k = Math.min(chunk.length, n - off);
          fillPattern(chunk, off);
          await writeAll(c, chunk.subarray(0, k));
        }
      } else {
        const body = path === "/" ? `lb.ts tcp test host ${c.localAddr.hostname}\n` : "not found\n";
        const status = path === "/" ? "200 OK" : "404 Not Found";
        await writeAll(
          c,
          enc.encode(
            `HTTP/1.1 ${status}\r\nContent-Length: ${body.length}\r\nConnection: ${conn}\r\n\r\n${body}`,
          ),
        );
      }
      if (!keepAlive) break;
    }
    await c.closeWrite();
    // Drain until the client closes, then release.
    const sink = new Uint8Array(4096);
    while ((await c.read(sink)) !== null) { /* discard */ }
  } catch { /* reset */ }
  try {
    c.close();
  } catch { /* closed */ }
}

async function slowSink(c: TcpConn, delayMs: number): Promise<void> {
  await new Promise((r) => setTimeout(r, delayMs));
  console.log("reading");
  const hash = createHash("sha256");
  const buf = new Uint8Array(65536);
  let n = 0;
  for (;;) {
    const k = await c.read(buf);
    if (k === null) break;
    hash.update(buf.subarray(0, k));
    n += k;
  }
  const hex = hash.digest("hex");
  await writeAll(c, enc.encode(hex + "\n"));
  c.close();
  console.log(`sank ${n} ${hex}`);
}

async function closer(c: TcpConn): Promise<void> {
  try {
    await c.closeWrite();
    const buf = new Uint8Array(4096);
    while ((await c.read(buf)) !== null) { /* drain */ }
  } catch { /* reset */ }
  c.close();
}

async function main(): Promise<void> {
  if (["echo", "http", "hold", "slowsink", "closer", "discard"].includes(job)) {
    const l = stack.listen({ port: Number(rest[0]) });
    console.log("ready");
    const held: TcpConn[] = [];
    for await (const c of l) {
      if (job === "echo") serveEcho(c);
      else if (job === "http") serveHttp(c);
      else if (job === "slowsink") slowSink(c, Number(rest[1]));
      else if (job === "closer") closer(c);
      else if (job === "discard") discard(c);
      else held.push(c);
    }
    return;
  }
  if (job === "fetch") {
    const [ip, port, path] = rest;
    const c = await stack.connect({ hostname: ip, port: Number(port), timeoutMs: 10_000 });
    console.log("ready");
    await writeAll(c, enc.encode(`GET ${path} HTTP/1.0\r\nHost: ${ip}\r\n\r\n`));
    const r = new LineReader(c);
    const status = (await r.line())!.split(" ")[1];
    for (;;) {
      const h = await r.line();
      if (h === null || h === "") break;
    }
    const hash = createHash("sha256");
    let bytes = r.buf.length;
    hash.update(r.buf);
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await c.read(buf);
      if (n === null) break;
      hash.update(buf.subarray(0, n));
      bytes += n;
    }
    c.close();
    console.log(`status ${status} bytes ${bytes} sha256 ${hash.digest("hex")}`);
    return;
  }
  if (job === "send") {
    const [ip, port, count] = rest;
    const n = Number(count);
    const c = await stack.connect({ hostname: ip, port: Number(port), timeoutMs: 10_000 });
    console.log("ready");
    const hash = createHash("sha256");
    const reader = (async () => {
      const buf = new Uint8Array(65536);
      let got = "";
      for (;;) {
        const k = await c.read(buf);
        if (k === null) break;
        got += new TextDecoder().decode(buf.subarray(0, k));
      }
      return got.trim();
    })();
    const chunk = new Uint8Array(65536);
    for (let off = 0; off < n; off += chunk.length) {
      const k = Math.min(chunk.length, n - off);
      fillPattern(chunk, off);
      hash.update(chunk.subarray(0, k));
      await writeAll(c, chunk.subarray(0, k));
    }
    await c.closeWrite();
    const reply = await reader;
    c.close();
    console.log(`sent ${n} sha256 ${hash.digest("hex")} reply ${reply}`);
    return;
  }
  if (job === "blast") {
    const [ip, port, count] = rest;
    const n = Number(count);
    const c = await stack.connect({ hostname: ip, port: Number(port), timeoutMs: 10_000 });
    console.log("ready");
    const t0 = performance.now();
    const chunk = new Uint8Array(256 * 1024);
    for (let off = 0; off < n; off += chunk.length) {
      await writeAll(c, chunk.subarray(0, Math.min(chunk.length, n - off)));
    }
    await c.closeWrite();
    const buf = new Uint8Array(1024);
    while ((await c.read(buf)) !== null) { /* until the peer closes */ }
    c.close();
    console.log(`blasted ${n} in ${(performance.now() - t0).toFixed(1)} ms`);
    return;
  }
  if (job === "idle") {
    const [ip, port] = rest;
    const c = await stack.connect({ hostname: ip, port: Number(port), timeoutMs: 10_000 });
    c.setKeepAlive(true);
    console.log("ready");
    try {
      const buf = new Uint8Array(1024);
      while ((await c.read(buf)) !== null) { /* keep reading */ }
      console.log("ended eof");
    } catch (e) {
      console.log(`ended ${(e as Error).name}`);
    }
    return;
  }
  throw new Error(`unknown job ${job}`);
}

main().then(() => stop(0), (e) => {
  console.log(`error ${(e as Error).name}: ${(e as Error).message}`);
  stop(1);
});
