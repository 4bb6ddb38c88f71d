/**
 * `stack.serve` with the kernel as the client, and `Deno.serve` on a kernel socket beside it:
 *
 *   k1 (10.91.0.1: curl, wrk) ──┐
 *   k2 (10.91.0.3: Deno.serve) ─┼── bridge (hub namespace)
 *   TAP "ts" (10.91.0.2: stack.serve, tests/netns/_serve_host.ts) ──┘
 *
 * curl checks keep-alive, a chunked upload streamed back, a large streamed download (SHA-256),
 * and a Hono app; a short wrk run on each server gives requests per second (docs/BENCHMARKS.md
 * records them). The other way, undici and `stack.fetch` (its pool) on the stack fetch from the
 * kernel's Deno.serve over one kept-alive connection.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DENO, netnsTest, type Proc, type Topology } from "./topology.ts";
import { bytesSha256 } from "../../stack/services/http.ts";

const STACK = "10.91.0.2";
const KERNEL = "10.91.0.3";
const HOST_SCRIPT = new URL("./_serve_host.ts", import.meta.url).pathname;
const CONFIG = new URL("../../deno.json", import.meta.url).pathname;

interface Net {
  hub: string;
  k1: string;
  k2: string;
  tap: string;
}

async function buildNet(t: Topology): Promise<Net> {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const k2 = await t.netns("k2");
  const br = await t.bridge(hub, "br");
  await t.attach(k1, hub, br, "eth0", "10.91.0.1/24");
  await t.attach(k2, hub, br, "eth0", `${KERNEL}/24`);
  const tap = await t.tap(hub, br, "ts");
  return { hub, k1, k2, tap };
}

/** The server script on the stack (in the hub, on the TAP) or on the kernel (in k2). */
async function startHost(t: Topology, n: Net, where: "stack" | "kernel", app: string) {
  const args = where === "stack"
    ? ["stack", "--tap", n.tap, "--ip", `${STACK}/24`, "--app", app]
    : ["kernel", "--host", KERNEL, "--app", app];
  const p: Proc = t.spawn(where === "stack" ? n.hub : n.k2, [
    DENO,
    "run",
    "-A",
    "--config",
    CONFIG,
    HOST_SCRIPT,
    ...args,
  ]);
  await p.waitFor("READY", 60_000);
  return p;
}

/** curl in k1, to completion; its stdout. */
function curl(t: Topology, n: Net, args: string[], timeoutMs = 60_000) {
  return t.execOk(n.k1, ["curl", "-sS", "--max-time", "50", ...args], timeoutMs);
}

/** A short wrk run in k1 against `host`: requests per second, and the error lines if any. */
async function wrk(t: Topology, n: Net, host: string): Promise<{ rps: number; out: string }> {
  const out = await t.execOk(
    n.k1,
    ["wrk", "-t1", "-c16", "-d4s", "--latency", `http://${host}/`],
    60_000,
  );
  const m = /Requests\/sec:\s+([0-9.]+)/.exec(out);
  assert(m !== null, out);
  return { rps: Number(m[1]), out };
}

netnsTest(
  "serve: curl against stack.serve: keep-alive, chunked upload echoed, 50 MB download",
  async (t) => {
    const n = await buildNet(t);
    await startHost(t, n, "stack", "plain");
    const base = `http://${STACK}`;
    // Two URLs in one curl: the second request reuses the connection.
    const verbose = await curl(t, n, [
      "-v",
      `${base}/`,
      `${base}/`,
      "-o",
      "/dev/null",
      "-o",
      "/dev/null",
      "--stderr",
      "-",
    ]);
    assertMatch(verbose, /Re-using existing connection|Reusing existing connection/);
    assertEquals(await curl(t, n, [`${base}/`]), "hello from serve\n");

    // A chunked upload (curl sends Transfer-Encoding: chunked) streamed back by the handler.
    const file = t.tempPath("upload");
    const data = new Uint8Array(3_000_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >>> 9)) & 0xff;
    Deno.writeFileSync(file, data);
    const upload = await curl(t, n, [
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${file}`,
      `${base}/sha256`,
    ]);
    const { createHash } = await import("node:crypto");
    assertEquals(upload.trim(), createHash("sha256").update(data).digest("hex"));
    const echoed = t.tempPath("echoed");
    await curl(t, n, [
      "-H",
      "Transfer-Encoding: chunked",
      "--data-binary",
      `@${file}`,
      "-o",
      echoed,
      `${base}/echo`,
    ]);
    assertEquals(Deno.readFileSync(echoed), data);

    // A 50 MB streamed download, checked end to end.
    const size = 50_000_000;
    const sum = await t.execOk(n.k1, [
      "sh",
      "-c",
      `curl -sS --max-time 50 ${base}/bytes/${size} | sha256sum`,
    ], 60_000);
    assertEquals(sum.split(" ")[0], bytesSha256(size));
  },
  180_000,
);

netnsTest("serve: a Hono app on stack.serve answers kernel curl", async (t) => {
  const n = await buildNet(t);
  await startHost(t, n, "stack", "hono");
  const base = `http://${STACK}`;
  assertEquals(await curl(t, n, [`${base}/`]), "hello from hono");
  assertEquals(JSON.parse(await curl(t, n, [`${base}/json/7`])), { id: "7", via: "hono" });
  const posted = await curl(t, n, [
    "-H",
    "content-type: application/json",
    "--data",
    '{"a":[1,2]}',
    `${base}/echo`,
  ]);
  assertEquals(JSON.parse(posted), { a: [1, 2] });
}, 120_000);

netnsTest("serve: wrk against stack.serve and against Deno.serve on a kernel socket", async (t) => {
  const n = await buildNet(t);
  await startHost(t, n, "stack", "plain");
  await startHost(t, n, "kernel", "plain");
  const onStack = await wrk(t, n, STACK);
  const onKernel = await wrk(t, n, KERNEL);
  console.log(
    `wrk -t1 -c16 -d4s: stack.serve ${onStack.rps} req/s, Deno.serve ${onKernel.rps} req/s`,
  );
  for (const r of [onStack, onKernel]) {
    assert(r.rps > 100, r.out);
    assert(!/Socket errors|Non-2xx/.test(r.out), r.out);
  }
}, 120_000);

netnsTest(
  "node: an Express app on the stack (node:http over stack sockets) answers kernel curl, kept alive",
  async (t) => {
    const n = await buildNet(t);
    await startHost(t, n, "stack", "express");
    const base = `http://${STACK}`;
    assertEquals(await curl(t, n, [`${base}/`]), "hello from express to 10.91.0.1");
    const sum = await curl(t, n, [
      "-H",
      "content-type: application/json",
      "--data",
      '{"values":[1,2,39]}',
      `${base}/sum`,
    ]);
    assertEquals(JSON.parse(sum), { sum: 42 });
    const verbose = await curl(t, n, [
      "-v",
      `${base}/`,
      `${base}/`,
      "-o",
      "/dev/null",
      "-o",
      "/dev/null",
      "--stderr",
      "-",
    ]);
    assertMatch(verbose, /Re-using existing connection|Reusing existing connection/);
  },
  120_000,
);

netnsTest(
  "node: undici's Client dialing through the stack fetches from a kernel Deno.serve, one connection",
  async (t) => {
    const n = await buildNet(t);
    await startHost(t, n, "kernel", "plain");
    const size = 5_000_000;
    const p = t.spawn(n.hub, [
      DENO,
      "run",
      "-A",
      "--config",
      CONFIG,
      HOST_SCRIPT,
      "undici",
      "--tap",
      n.tap,
      "--ip",
      `${STACK}/24`,
      "--url",
      `http://${KERNEL}/bytes/${size}`,
      "--count",
      "3",
    ]);
    await p.waitFor(/UNDICI \d+ [0-9a-f]{64} \d+/, 60_000);
    const m = /UNDICI (\d+) ([0-9a-f]{64}) (\d+)/.exec(p.output())!;
    assertEquals([m[1], m[2], m[3]], ["200", bytesSha256(size), "1"]);
  },
  120_000,
);

netnsTest(
  "fetch: stack.fetch keeps one connection alive for several GETs from a kernel Deno.serve",
  async (t) => {
    const n = await buildNet(t);
    await startHost(t, n, "kernel", "plain");
    const size = 2_000_000;
    const p = t.spawn(n.hub, [
      DENO,
      "run",
      "-A",
      "--config",
      CONFIG,
      HOST_SCRIPT,
      "fetch",
      "--tap",
      n.tap,
      "--ip",
      `${STACK}/24`,
      "--url",
      `http://${KERNEL}/bytes/${size}`,
      "--count",
      "3",
    ]);
    await p.waitFor(/FETCH \d+ [0-9a-f]{64} \d+ \S+/, 60_000);
    const m = /FETCH (\d+) ([0-9a-f]{64}) (\d+) (\S+)/.exec(p.output())!;
    assertEquals([m[1], m[2], m[3], m[4]], ["200", bytesSha256(size), "1", "ESTABLISHED"]);
  },
  120_000,
);
