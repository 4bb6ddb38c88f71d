/**
 * TCP against the Linux kernel as the peer (see _tcp_net.ts for the network): kernel curl and
 * nc against the userspace host's listeners, the userspace host's active opens against kernel
 * servers, 100 MB both ways with sha256 compared.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import {
  buildTcpNet,
  KERNEL_IP,
  patternSha256,
  PY_SERVER,
  STACK_IP,
  startHost,
  waitStats,
} from "./_tcp_net.ts";
import { netnsTest } from "./topology.ts";

const MB100 = 104_857_600;

netnsTest("kernel curl fetches / and 100 MB from the userspace HTTP listener", async (t) => {
  const n = await buildTcpNet(t);
  await startHost(t, n, ["http", "80"]);
  const page = await t.execOk(n.k1, ["curl", "-sS", "--max-time", "10", `http://${STACK_IP}/`]);
  assertEquals(page, `lb.ts tcp test host ${STACK_IP}\n`);
  // Keep-alive: two requests on one connection (curl reuses it).
  const two = await t.execOk(n.k1, [
    "curl",
    "-sS",
    "--max-time",
    "10",
    "-w",
    "%{num_connects}\n",
    `http://${STACK_IP}/`,
    `http://${STACK_IP}/`,
  ]);
  assertMatch(two, /host 10\.81\.0\.2\n1\nlb\.ts tcp test host 10\.81\.0\.2\n0\n/);
  const big = await t.execOk(n.k1, [
    "sh",
    "-c",
    `curl -sS --max-time 120 http://${STACK_IP}/bytes/${MB100} | sha256sum`,
  ], 130_000);
  assertEquals(big.split(" ")[0], await patternSha256(MB100));
}, 180_000);

netnsTest(
  "the userspace host fetches 100 MB from a kernel server and sends 100 MB to one",
  async (t) => {
    const n = await buildTcpNet(t);
    const srv = t.spawn(n.k1, ["python3", "-c", PY_SERVER, "http", "8080", String(MB100)]);
    await srv.waitFor("listening");
    const fetch = await startHost(t, n, ["fetch", KERNEL_IP, "8080", "/"]);
    await fetch.waitFor(/status \d+ bytes \d+ sha256 \w+/, 120_000);
    const m = fetch.output().match(/status (\d+) bytes (\d+) sha256 (\w+)/)!;
    assertEquals(m[1], "200");
    assertEquals(Number(m[2]), MB100);
    assertEquals(m[3], await patternSha256(MB100));
    await fetch.status;

    const sink = t.spawn(n.k1, ["python3", "-c", PY_SERVER, "sink", "9000"]);
    await sink.waitFor("listening");
    const send = await startHost(t, n, ["send", KERNEL_IP, "9000", String(MB100)]);
    await send.waitFor(/sent \d+ sha256 \w+ reply \w+/, 120_000);
    const s = send.output().match(/sent (\d+) sha256 (\w+) reply (\w+)/)!;
    assertEquals(s[2], s[3], send.output());
    assertEquals(s[2], await patternSha256(MB100));
    await sink.waitFor(`sink ${MB100} ${s[2]}`);
  },
  240_000,
);

netnsTest("a closed port answers RST: kernel connect is refused", async (t) => {
  const n = await buildTcpNet(t);
  await startHost(t, n, ["echo", "7"]);
  const r = await t.exec(n.k1, ["nc", "-z", "-w", "2", STACK_IP, "81"]);
  assert(r.code !== 0, "nc -z to a closed port must fail");
  const refused = await t.exec(n.k1, [
    "python3",
    "-c",
    `import socket\ntry:\n  socket.create_connection(("${STACK_IP}", 81), timeout=3)\nexcept ConnectionRefusedError:\n  print("refused")\nexcept Exception as e:\n  print("other", e)`,
  ]);
  assertEquals(refused.stdout.trim(), "refused");
  await waitStats(n, (st) => (st.counters["tcp.rx_no_socket"] ?? 0) >= 2, 5_000, "rx_no_socket");
});
