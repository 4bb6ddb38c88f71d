/**
 * TCP behaviours with the kernel as the peer: half-close (`nc -N`), zero windows both ways
 * (a reader that stops reading, then resumes), keepalive finding a dead peer, simultaneous
 * close, and a SYN flood (hping3) answered with SYN cookies while curl still gets through.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  buildTcpNet,
  KERNEL_IP,
  patternSha256,
  readStats,
  STACK_IP,
  startHost,
  waitStats,
} from "./_tcp_net.ts";
import { netnsTest } from "./topology.ts";

netnsTest("half-close: nc -N sends, shuts down its side, still gets the echo", async (t) => {
  const n = await buildTcpNet(t);
  await startHost(t, n, ["echo", "7"]);
  const r = await t.execOk(n.k1, [
    "sh",
    "-c",
    `printf 'hello over half-close\\n' | nc -N -w 5 ${STACK_IP} 7`,
  ]);
  assertEquals(r, "hello over half-close\n");
});

/** Client (kernel): sends N pattern bytes, shuts down, prints the server's reply. */
const PY_SEND = `
import socket, sys
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
base = bytes(((i ^ (i >> 8)) & 0xff) for i in range(1 << 16))
s = socket.create_connection((host, port), timeout=60)
off = 0
while off < n:
    k = min(1 << 16, n - off); c = (off >> 16) & 0xff
    s.sendall(base[:k].translate(bytes(b ^ c for b in range(256)))); off += k
s.shutdown(socket.SHUT_WR)
print(s.makefile().readline().strip(), flush=True)
`;

netnsTest("zero window: the host stops reading, the kernel probes, then all arrives", async (t) => {
  const n = await buildTcpNet(t);
  const host = await startHost(t, n, ["slowsink", "9", "2500"], { receiveBuffer: 256 * 1024 });
  const size = 4 * 1024 * 1024;
  const client = t.spawn(n.k1, ["python3", "-c", PY_SEND, STACK_IP, "9", String(size)]);
  // While nobody reads, the receive buffer fills and the advertised window is zero.
  const full = await waitStats(
    n,
    (s) => s.tcp.some((r) => r.state === "ESTABLISHED" && r.recvQ === 256 * 1024),
    5_000,
    "a full receive buffer",
  );
  assert(full.tcp.length > 0);
  await host.waitFor("reading", 10_000);
  await client.waitFor(/^[0-9a-f]{64}$/m, 30_000);
  const hex = client.output().trim();
  assertEquals(hex, await patternSha256(size));
  await host.waitFor(`sank ${size} ${hex}`);
  // The kernel's zero-window probes arrived as segments just below the window.
  await waitStats(
    n,
    (st) =>
      (st.counters["tcp.rx_out_of_window"] ?? 0) + (st.counters["tcp.rx_zero_window_drop"] ?? 0) >
        0,
    5_000,
    "zero-window probes seen",
  );
});

/** Server (kernel): a small receive buffer, sleeps before reading, answers the sha256. */
const PY_SLOW_SERVER = `
import socket, sys, time, hashlib
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4)
print("listening", flush=True)
c, _ = s.accept()
time.sleep(float(sys.argv[2]))
print("reading", flush=True)
h = hashlib.sha256()
while True:
    b = c.recv(1 << 16)
    if not b: break
    h.update(b)
c.sendall((h.hexdigest() + "\\n").encode()); c.close()
`;

netnsTest("zero window: the kernel stops reading, the host's persist timer probes", async (t) => {
  const n = await buildTcpNet(t);
  const srv = t.spawn(n.k1, ["python3", "-c", PY_SLOW_SERVER, "9000", "3"]);
  await srv.waitFor("listening");
  const size = 2 * 1024 * 1024;
  const send = await startHost(t, n, ["send", KERNEL_IP, "9000", String(size)]);
  await send.waitFor(/sent \d+ sha256 \w+ reply \w+/, 30_000);
  const m = send.output().match(/sent (\d+) sha256 (\w+) reply (\w+)/)!;
  assertEquals(m[3], m[2]);
  assertEquals(m[2], await patternSha256(size));
  await waitStats(n, (st) => (st.counters["tcp.window_probes"] ?? 0) > 0, 5_000, "probes sent");
});

/** Server (kernel): accepts and holds the connection. */
const PY_HOLD = `
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4)
print("listening", flush=True)
c, _ = s.accept()
print("accepted", flush=True)
time.sleep(60)
`;

netnsTest("keepalive: probes go unanswered once the peer is gone; TimedOut", async (t) => {
  const n = await buildTcpNet(t);
  const srv = t.spawn(n.k1, ["python3", "-c", PY_HOLD, "9100"]);
  await srv.waitFor("listening");
  const idle = await startHost(t, n, ["idle", KERNEL_IP, "9100"], {
    keepalive: { idleMs: 1000, intervalMs: 300, count: 3 },
  });
  await srv.waitFor("accepted");
  // A live peer answers probes: after 2.5 s the connection is still up.
  await waitStats(n, (st) => (st.counters["tcp.keepalive_probes"] ?? 0) >= 2, 10_000, "probes");
  assert(!idle.output().includes("ended"), idle.output());
  // The peer vanishes (every packet to and from it dropped): the probes go unanswered.
  await t.execOk(n.k1, ["nft", "add table inet lbtdead"]);
  await t.execOk(n.k1, [
    "nft",
    "add chain inet lbtdead in { type filter hook input priority 0; policy drop; }",
  ]);
  await t.execOk(n.k1, [
    "nft",
    "add chain inet lbtdead out { type filter hook output priority 0; policy drop; }",
  ]);
  await idle.waitFor("ended", 8_000);
  assertMatch(idle.output(), /ended TimedOut/);
  await waitStats(n, (st) => st.counters["tcp.keepalive_timeouts"] === 1, 5_000, "timeout count");
});

/** Client (kernel): connects, waits 30 ms, shuts down its side, reads to EOF, N times. */
const PY_CLOSE_RACE = `
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    s = socket.create_connection((host, port), timeout=10)
    time.sleep(0.03)
    s.shutdown(socket.SHUT_WR)
    while s.recv(4096): pass
    s.close()
print("done", n, flush=True)
`;

netnsTest(
  "simultaneous close: FINs cross (50 ms one-way delay), both sides end cleanly",
  async (t) => {
    const n = await buildTcpNet(t);
    // With 50 ms each way, the host's FIN (sent on accept) and the client's (30 ms after
    // connect) are both in flight at once: both ends go FIN_WAIT_1 -> CLOSING -> TIME_WAIT.
    await startHost(t, n, ["closer", "7"], { timeWaitMs: 2000 }, "delay=50ms");
    const r = await t.execOk(n.k1, ["python3", "-c", PY_CLOSE_RACE, STACK_IP, "7", "5"], 30_000);
    assertEquals(r.trim(), "done 5");
    const s = await waitStats(
      n,
      (st) => (st.counters["tcp.simultaneous_closes"] ?? 0) >= 3,
      5_000,
      "CLOSING",
    );
    assertEquals(s.counters["tcp.tx_resets"] ?? 0, 0);
    assertEquals(s.counters["tcp.rx_resets"] ?? 0, 0);
    await waitStats(n, (st) => st.tcp.every((row) => row.state === "LISTEN"), 10_000, "drain");
  },
);

netnsTest(
  "SYN flood: a full SYN backlog answers with cookies and curl still succeeds",
  async (t) => {
    const n = await buildTcpNet(t);
    await startHost(t, n, ["http", "80"], { synBacklog: 64 });
    // A bounded flood from one spoofed source that never answers (10.81.0.99 exists nowhere).
    const flood = t.spawn(n.k1, [
      "hping3",
      "-q",
      "-S",
      "-p",
      "80",
      "-i",
      "u300",
      "-c",
      "10000",
      "-a",
      "10.81.0.99",
      STACK_IP,
    ]);
    await waitStats(n, (s) => (s.counters["tcp.syncookies_sent"] ?? 0) > 100, 10_000, "cookies");
    const page = await t.execOk(n.k1, ["curl", "-sS", "--max-time", "10", `http://${STACK_IP}/`]);
    assertEquals(page, `lb.ts tcp test host ${STACK_IP}\n`);
    const during = readStats(n);
    const halfOpen = during.tcp.filter((r) => r.state === "SYN_RECV").length;
    assert(halfOpen <= 64, `the SYN backlog bounds the half-open connections: ${halfOpen}`);
    await flood.status;
    const s = await waitStats(
      n,
      (st) => (st.counters["tcp.syncookies_ok"] ?? 0) >= 1,
      5_000,
      "cookie ok",
    );
    assert(s.counters["tcp.syncookies_sent"] > 1000, JSON.stringify(s.counters));
  },
);
