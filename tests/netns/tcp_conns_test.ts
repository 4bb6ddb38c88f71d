/**
 * Many connections from the kernel: 1,000 concurrent clients (python asyncio in the kernel's
 * namespace) against the userspace echo and HTTP listeners; every exchange completes with the
 * right bytes, and the host's table drains: to nothing but TIME_WAIT, then to nothing.
 */
import { assertEquals } from "../assert.ts";
import { buildTcpNet, STACK_IP, startHost, waitStats } from "./_tcp_net.ts";
import { netnsTest } from "./topology.ts";

/** asyncio client: N concurrent connections; prints "ok N" when all verified. */
const PY_MANY = `
import asyncio, os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (8192, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
mode, host, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
async def echo(i):
    r, w = await asyncio.open_connection(host, port)
    msg = os.urandom(100 + (i * 37) % 3000)
    w.write(msg); await w.drain()
    got = await r.readexactly(len(msg))
    w.close(); await w.wait_closed()
    return got == msg
async def http(i):
    r, w = await asyncio.open_connection(host, port)
    w.write(b"GET / HTTP/1.0\\r\\n\\r\\n"); await w.drain()
    body = await r.read()   # to EOF: the server closes first
    w.close(); await w.wait_closed()
    return body.startswith(b"HTTP/1.1 200") and body.endswith(b"host " + host.encode() + b"\\n")
async def main():
    f = echo if mode == "echo" else http
    res = await asyncio.wait_for(asyncio.gather(*(f(i) for i in range(n)), return_exceptions=True), 120)
    bad = [r for r in res if r is not True]
    print("ok", n - len(bad), "bad", len(bad), repr(bad[:3]), flush=True)
asyncio.run(main())
`;

netnsTest("1,000 concurrent kernel connections to the echo listener all complete", async (t) => {
  const n = await buildTcpNet(t);
  await startHost(t, n, ["echo", "7"]);
  const r = await t.execOk(
    n.k1,
    ["python3", "-c", PY_MANY, "echo", STACK_IP, "7", "1000"],
    150_000,
  );
  assertEquals(r.trim().split(" ").slice(0, 4).join(" "), "ok 1000 bad 0", r);
  // The clients closed first: the host ends with no connections at all (LAST_ACK -> CLOSED).
  const s = await waitStats(
    n,
    (st) => st.tcp.every((row) => row.state === "LISTEN"),
    20_000,
    "drain",
  );
  assertEquals(s.counters["tcp.passive_opens_established"], 1000);
}, 200_000);

netnsTest(
  "1,000 concurrent HTTP/1.0 requests: the host closes first, TIME_WAIT, then none",
  async (t) => {
    const n = await buildTcpNet(t);
    await startHost(t, n, ["http", "80"], { timeWaitMs: 4000 });
    const r = await t.execOk(
      n.k1,
      ["python3", "-c", PY_MANY, "http", STACK_IP, "80", "1000"],
      150_000,
    );
    assertEquals(r.trim().split(" ").slice(0, 4).join(" "), "ok 1000 bad 0", r);
    const tw = await waitStats(
      n,
      (st) => st.tcp.every((row) => row.state === "LISTEN" || row.state === "TIME_WAIT"),
      20_000,
      "only TIME_WAIT",
    );
    const waiting = tw.tcp.filter((row) => row.state === "TIME_WAIT").length;
    assertEquals(waiting > 900, true, `TIME_WAIT rows: ${waiting}`);
    await waitStats(n, (st) => st.tcp.every((row) => row.state === "LISTEN"), 15_000, "none left");
  },
  200_000,
);
