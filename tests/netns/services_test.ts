/**
 * The built-in services, `lb.ts fetch` and `lb.ts netstat` with the kernel as the peer:
 *
 *   k1 (10.81.0.1: curl, nc, a python HTTP server) ──┐
 *   lb.ts stack --serve ... ───────────── TAP "ts" ──┼── bridge (hub namespace)
 *   lb.ts fetch ───────────────────────── TAP "tf" ──┘
 *   (10.81.0.2 and 10.81.0.3)
 *
 * The 100 MB transfers are checked by SHA-256 end to end, also under `--impair` loss,
 * reordering, duplication and delay (and nftables `numgen random` drops on the kernel side).
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { DENO, LB_TS, netnsTest, type Proc, type Topology } from "./topology.ts";
import { bytesSha256 } from "../../stack/services/http.ts";
import { sentHash, startKernelHttp } from "./_kernel_http.ts";

const HOST = "10.81.0.2";
const FETCHER = "10.81.0.3/24";
const MB100 = 104_857_600;
const IMPAIR = "loss=2%,reorder=5%,dup=1%,delay=5ms";

interface Net {
  hub: string;
  k1: string;
  serverTap: string;
  fetchTap: string;
  control: string;
}

async function buildNet(t: Topology): Promise<Net> {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const br = await t.bridge(hub, "br");
  await t.attach(k1, hub, br, "eth0", "10.81.0.1/24");
  const serverTap = await t.tap(hub, br, "ts");
  const fetchTap = await t.tap(hub, br, "tf");
  return { hub, k1, serverTap, fetchTap, control: t.tempPath("ctl.sock") };
}

/** The userspace host with every service, optionally impaired. */
async function startServer(t: Topology, n: Net, extra: string[] = []): Promise<Proc> {
  const p = t.lb(n.hub, [
    "stack",
    "--tap",
    n.serverTap,
    "--ip",
    `${HOST}/24`,
    "--control",
    n.control,
    "--serve",
    "http:80",
    "--serve",
    "echo:7",
    "--serve",
    "discard:9",
    "--serve",
    "chargen:19",
    ...extra,
  ]);
  await p.waitFor("up on", 30_000);
  assertMatch(p.output(), /serving http:80\/tcp, echo:7\/tcp\+udp, discard:9\/tcp\+udp/);
  return p;
}

/** `lb.ts fetch URL` on the second TAP, to completion. */
function fetch(t: Topology, n: Net, url: string, extra: string[] = [], timeoutMs = 60_000) {
  return t.exec(n.hub, [
    DENO,
    "run",
    "--allow-ffi",
    LB_TS,
    "fetch",
    url,
    "--tap",
    n.fetchTap,
    "--ip",
    FETCHER,
    "--timeout",
    "60",
    ...extra,
  ], timeoutMs);
}

/** The hash `lb.ts fetch --sha256` printed. */
function fetchedHash(stdout: string, n: number): string {
  const m = new RegExp(`^([0-9a-f]{64})  ${n} bytes$`, "m").exec(stdout);
  assert(m !== null, `no hash line in:\n${stdout}`);
  return m[1];
}

interface NetstatJsonRow {
  local: string;
  remote: string;
  state: string;
  retransmits?: number;
}

async function netstatRows(t: Topology, n: Net): Promise<NetstatJsonRow[]> {
  const r = await t.lbRun(["netstat", "--json", "--control", n.control]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

netnsTest(
  "kernel curl: / names the host, 100 MiB by SHA-256, keep-alive, POST /sha256",
  async (t) => {
    const n = await buildNet(t);
    await startServer(t, n);

    const page = await t.execOk(n.k1, ["curl", "-sS", "--max-time", "20", `http://${HOST}/`]);
    assertEquals(page, `lb.ts host ${HOST}\n`);

    // Two URLs on one curl: the second request reuses the connection (HTTP/1.1 keep-alive).
    const two = await t.exec(n.k1, [
      "curl",
      "-sS",
      "-v",
      "--max-time",
      "20",
      `http://${HOST}/bytes/10`,
      `http://${HOST}/`,
    ]);
    assertEquals(two.code, 0, two.stderr);
    assertMatch(two.stderr, /Re-using existing connection|Reusing existing/i);

    const big = await t.execOk(n.k1, [
      "sh",
      "-c",
      `curl -sS --max-time 300 http://${HOST}/bytes/${MB100} | sha256sum`,
    ], 320_000);
    assertEquals(big.split(" ")[0], bytesSha256(MB100));

    // Upload: 10 MiB from the kernel, hashed by the stack as it streams in (length and chunked).
    const file = t.tempPath("upload.bin");
    await t.execOk(n.k1, ["sh", "-c", `head -c 10485760 /dev/urandom > ${file}`]);
    const want = (await t.execOk(n.k1, ["sha256sum", file])).split(" ")[0];
    for (const extra of [[], ["-H", "Transfer-Encoding: chunked"]]) {
      const got = await t.execOk(n.k1, [
        "curl",
        "-sS",
        "--max-time",
        "120",
        ...extra,
        "--data-binary",
        `@${file}`,
        `http://${HOST}/sha256`,
      ], 130_000);
      assertEquals(got.trim(), want, `upload ${extra.join(" ")}`);
    }
  },
  600_000,
);

netnsTest("lb.ts fetch: a page and 100 MiB from a kernel HTTP server", async (t) => {
  const n = await buildNet(t);
  const server = await startKernelHttp(t, n.k1, "10.81.0.1", 8000);

  const page = await fetch(t, n, "http://10.81.0.1:8000/");
  assertEquals(page.code, 0, page.stdout + page.stderr);
  assertMatch(page.stdout, /^HTTP\/1\.0 200 OK\r\n/);
  assert(page.stdout.endsWith("\r\n\r\nhello from the kernel\n"), page.stdout);

  const big = await fetch(t, n, `http://10.81.0.1:8000/big/${MB100}`, ["--sha256"], 320_000);
  assertEquals(big.code, 0, big.stdout + big.stderr);
  assertEquals(fetchedHash(big.stdout, MB100), await sentHash(server, MB100));

  // Closed cleanly: the kernel's side of each connection is in TIME_WAIT or gone, never left
  // waiting for our FIN (FIN_WAIT2) or reset.
  const ss = await t.execOk(n.k1, ["ss", "-tanH", "sport", "= :8000"]);
  assert(!/FIN-WAIT-2|CLOSE-WAIT|ESTAB/.test(ss), ss);
  const missing = await fetch(t, n, "http://10.81.0.1:8000/nope");
  assertEquals(missing.code, 0, "like cat <&8, a 404 is still a response");
  assertMatch(missing.stdout, /^HTTP\/1\.0 404 /);
}, 600_000);

netnsTest("100 MiB from the stack under --impair and kernel-side drops, exact", async (t) => {
  const n = await buildNet(t);
  // BBR, as this machine's kernel sends with (net.ipv4.tcp_congestion_control): the same
  // algorithm both ways, so the two directions compare like for like.
  await startServer(t, n, ["--impair", IMPAIR, "--tcp-cc", "bbr"]);
  // A second source of loss: the kernel drops 1% of what the stack sends it (nftables).
  await t.execOk(n.k1, [
    "nft",
    `add table inet lbt; add chain inet lbt in { type filter hook input priority 0; }; ` +
    `add rule inet lbt in ip saddr ${HOST} tcp sport 80 numgen random mod 100 < 1 drop`,
  ]);
  const started = Date.now();
  const curl = t.exec(n.k1, [
    "sh",
    "-c",
    `curl -sS --max-time 540 http://${HOST}/bytes/${MB100} | sha256sum`,
  ], 560_000);
  // Watch the connection's retransmission counter while it runs.
  let maxRetrans = 0;
  let done = false;
  curl.finally(() => done = true);
  while (!done) {
    for (const r of await netstatRows(t, n)) {
      if (r.local === `${HOST}:80` && r.state !== "LISTEN") {
        maxRetrans = Math.max(maxRetrans, r.retransmits ?? 0);
      }
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const out = await curl;
  const seconds = (Date.now() - started) / 1000;
  assertEquals(out.code, 0, out.stderr);
  assertEquals(out.stdout.split(" ")[0], bytesSha256(MB100));
  assert(maxRetrans > 0, "the stack retransmitted (netstat -e retrans)");
  const stats = JSON.parse((await t.lbRun(["stats", "--json", "--control", n.control])).stdout);
  const c = stats.counters as Record<string, number>;
  assert(c["impair.tx_lost"] > 0 && c["impair.rx_lost"] > 0, JSON.stringify(c));
  assert(c["impair.tx_reordered"] > 0 && c["impair.tx_duplicated"] > 0, JSON.stringify(c));
  const text = (await t.lbRun(["stats", "--control", n.control])).stdout;
  assertMatch(text, /^impair:$/m);
  console.log(
    `stack -> kernel under --impair ${IMPAIR} + 1% drops: 100 MiB in ${seconds.toFixed(1)} s ` +
      `(${(100 / seconds).toFixed(2)} MiB/s); fast retransmits ${
        c["tcp.fast_retransmits"] ?? 0
      }, ` +
      `RTOs ${c["tcp.rto_expired"] ?? 0}, spurious recoveries undone ` +
      `${c["tcp.spurious_recovery_undone"] ?? 0}, lost retransmissions ${
        c["tcp.lost_retransmits"] ?? 0
      }`,
  );
}, 600_000);

netnsTest(
  "lb.ts fetch --impair: 100 MiB from the kernel, exact, the kernel retransmits",
  async (t) => {
    const n = await buildNet(t);
    const server = await startKernelHttp(t, n.k1, "10.81.0.1", 8000);
    const before = await kernelRetrans(t, n.k1);
    const started = Date.now();
    const big = await fetch(
      t,
      n,
      `http://10.81.0.1:8000/big/${MB100}`,
      ["--sha256", "--impair", IMPAIR],
      560_000,
    );
    const seconds = (Date.now() - started) / 1000;
    assertEquals(big.code, 0, big.stdout + big.stderr);
    assertEquals(fetchedHash(big.stdout, MB100), await sentHash(server, MB100));
    assert((await kernelRetrans(t, n.k1)) > before, "the kernel's sender recovered from losses");
    // The kernel's congestion control decides this figure (BBR does not take random loss for
    // congestion; Reno and CUBIC do, as the stack's CUBIC does).
    const cc = (await t.execOk(n.k1, ["sysctl", "-n", "net.ipv4.tcp_congestion_control"])).trim();
    console.log(
      `kernel (${cc}) -> stack under --impair ${IMPAIR}: 100 MiB in ${seconds.toFixed(1)} s ` +
        `(${(100 / seconds).toFixed(2)} MiB/s)`,
    );
  },
  600_000,
);

/** TcpRetransSegs of the kernel in `ns` (nstat -a: absolute values). */
async function kernelRetrans(t: Topology, ns: string): Promise<number> {
  const out = await t.execOk(ns, ["nstat", "-az", "TcpRetransSegs"]);
  const m = /TcpRetransSegs\s+([0-9]+)/.exec(out);
  return m === null ? 0 : Number(m[1]);
}

netnsTest(
  "echo with nc -N half-close, discard, chargen, UDP echo and closed UDP ports",
  async (t) => {
    const n = await buildNet(t);
    await startServer(t, n);

    // nc -N shuts down its sending side at end of input; the echo answers with its FIN after the
    // data, so nc ends by itself (no -w timeout needed).
    const t0 = performance.now();
    const echo = await t.execOk(n.k1, [
      "sh",
      "-c",
      `printf 'hello, half-close\\n' | nc -N ${HOST} 7`,
    ], 20_000);
    assertEquals(echo, "hello, half-close\n");
    assert(performance.now() - t0 < 10_000);

    const discard = await t.exec(n.k1, [
      "sh",
      "-c",
      `head -c 1000000 /dev/zero | nc -N ${HOST} 9 | wc -c`,
    ], 20_000);
    assertEquals(discard.stdout.trim(), "0", discard.stderr);

    const chargen = await t.execOk(n.k1, [
      "sh",
      "-c",
      `nc ${HOST} 19 | head -c 222`,
    ], 20_000);
    const lines = chargen.split("\r\n");
    assertEquals(
      lines[1],
      "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh",
    );

    // UDP echo (RFC 862 over UDP).
    const udp = await t.execOk(n.k1, ["sh", "-c", `printf 'ping\\n' | nc -u -w 1 ${HOST} 7`]);
    assertEquals(udp, "ping\n");

    // A closed UDP port: ICMP port unreachable, which a connected kernel socket reports as
    // "connection refused".
    await t.exec(n.k1, ["sh", "-c", `printf x | nc -u -w 1 ${HOST} 9999`]);
    const refused = await t.execOk(n.k1, [
      "/usr/bin/python3",
      "-c",
      `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("${HOST}", 9998))
s.send(b"x")
try:
    s.recv(100)
    print("answered")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")`,
    ]);
    assertEquals(refused.trim(), "refused");
    const stats = JSON.parse((await t.lbRun(["stats", "--json", "--control", n.control])).stdout);
    assert(stats.counters["drop.udp_no_port"] >= 2, JSON.stringify(stats.counters));
    assert(stats.counters["icmp.tx_dest_unreachable"] >= 2, JSON.stringify(stats.counters));
  },
);

netnsTest("lb.ts netstat: listeners and an established connection, -e details", async (t) => {
  const n = await buildNet(t);
  await startServer(t, n);
  // A chargen client that keeps its connection open (its output goes nowhere).
  const client = t.spawn(n.k1, ["sh", "-c", `exec nc ${HOST} 19 > /dev/null`]);
  let text = "";
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = await t.lbRun(["netstat", "--control", n.control]);
    text = r.stdout;
    if (/ESTABLISHED/.test(text)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const lines = text.trimEnd().split("\n");
  assertEquals(lines[0], "Active Internet connections (servers and established)");
  assertEquals(
    lines[1],
    "Proto Recv-Q Send-Q Local Address           Foreign Address         State",
  );
  for (const port of [7, 9, 19, 80]) {
    assertMatch(
      text,
      new RegExp(`^tcp +\\d+ +\\d+ 0\\.0\\.0\\.0:${port} +0\\.0\\.0\\.0:\\* +LISTEN$`, "m"),
    );
  }
  assertMatch(
    text,
    new RegExp(`^tcp +\\d+ +\\d+ 10\\.81\\.0\\.2:19 +10\\.81\\.0\\.1:\\d+ +ESTABLISHED$`, "m"),
  );
  const e = (await t.lbRun(["netstat", "-e", "--control", n.control])).stdout;
  assertMatch(
    e,
    /ESTABLISHED\n\t .*rto:[0-9.]+ rtt:[0-9.]+\/[0-9.]+ mss:\d+ cwnd:\d+.* retrans:\d+/,
  );
  await client.stop();
});
