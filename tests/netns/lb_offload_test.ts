/**
 * `--offload` (virtio-net headers and TSO on the TAP, stack/link/offload.ts) against the kernel:
 * - `lb.ts run --offload` in NAT (every byte crosses the balancer) and DR in front of kernel real
 *   servers (tests/netns/_lb_net.ts draws the network): 64 MB downloads through the VIP are
 *   SHA-256 exact, and the balancer's counters show super-frames were received and sent whole;
 *   in DR an upload (client -> VIP, the direction that crosses the balancer) is exact too;
 * - `lb.ts stack --offload --serve http:80` with a kernel curl: 20 MB each way, SHA-256 exact,
 *   the stack's TCP taking the kernel's super-frames as single segments.
 *
 * The balancer runs without `--pcap` here (startBalancer records every frame): a capture would
 * measure the disk, not the forwarding.
 */
import { assert, assertEquals } from "../assert.ts";
import { netnsTest, type Proc, type Topology } from "./topology.ts";
import {
  buildLbNet,
  counters,
  type LbNet,
  PY,
  removeDirs,
  sha256File,
  startHttpServers,
  startLb,
  VIP,
  writeBigFile,
} from "./_lb_net.ts";
import { bytesSha256 } from "../../stack/services/http.ts";

const MB = 1 << 20;

/** `lb.ts run --offload` on the net's TAP with `args`, no pcap; resolves when it is up. */
function startOffloadBalancer(net: LbNet, args: string[]): Promise<Proc> {
  return startLb(net, ["--offload", ...args]);
}

/** curl of `url` from the client into a file; returns the file. */
async function download(net: LbNet, url: string, timeoutS = 20): Promise<string> {
  const out = net.t.tempPath("dl.out");
  const r = await net.t.exec(net.client, [
    "curl",
    "-sS",
    "--max-time",
    String(timeoutS),
    "-o",
    out,
    url,
  ], (timeoutS + 10) * 1000);
  assertEquals(r.code, 0, `curl ${url}: ${r.stderr}`);
  return out;
}

netnsTest(
  "offload nat: 64 MB through the VIP, SHA-256 exact, super-frames received and sent whole",
  async (t) => {
    try {
      const net = await buildLbNet(t, 1, "nat");
      writeBigFile(net, "big", 64 * MB);
      const want = await sha256File(`${net.reals[0].dir}/big`);
      await startHttpServers(net, 8080);
      await startOffloadBalancer(net, [
        "--service",
        `tcp:${VIP}:80`,
        "--scheduler",
        "rr",
        "--method",
        "nat",
        "--real",
        `${net.reals[0].ip}:8080`,
      ]);
      const out = await download(net, `http://${VIP}/big`);
      assertEquals(await sha256File(out), want);
      const c = await counters(net);
      assert((c["link.rx_gso"] ?? 0) > 0, `no super-frame received: ${JSON.stringify(c)}`);
      assert((c["link.tx_gso"] ?? 0) > 0, `no super-frame sent: ${JSON.stringify(c)}`);
      assertEquals(c["lb.drop_tx_failed"] ?? 0, 0);
      assertEquals(c["drop.tx_gso_unresolved"] ?? 0, 0);
    } finally {
      removeDirs();
    }
  },
  90_000,
);

/** A TCP sink: accepts one connection on VIP:PORT, prints the SHA-256 and length it received. */
const SINK = `
import hashlib, socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
h = hashlib.sha256()
n = 0
while True:
    d = c.recv(1 << 20)
    if not d:
        break
    h.update(d)
    n += len(d)
print("GOT", h.hexdigest(), n, flush=True)
c.close()
`;

netnsTest(
  "offload dr: a 64 MB download and a 32 MB upload through the VIP, SHA-256 exact",
  async (t) => {
    try {
      const net = await buildLbNet(t, 1, "dr");
      writeBigFile(net, "big", 64 * MB);
      const want = await sha256File(`${net.reals[0].dir}/big`);
      await startHttpServers(net, 80);
      const sink = t.spawn(net.reals[0].ns, [PY, "-u", "-c", SINK, VIP, "9000"]);
      await sink.waitFor("listening", 15_000);
      await startOffloadBalancer(net, [
        "--service",
        `tcp:${VIP}:80`,
        "--method",
        "dr",
        "--real",
        net.reals[0].ip,
        "--service",
        `tcp:${VIP}:9000`,
        "--method",
        "dr",
        "--real",
        net.reals[0].ip,
      ]);
      const out = await download(net, `http://${VIP}/big`);
      assertEquals(await sha256File(out), want);
      // The upload is the direction that crosses a DR balancer: the client's super-frames.
      const file = t.tempPath("up.bin");
      await t.execOk(net.client, ["sh", "-c", `head -c ${32 * MB} /dev/urandom > ${file}`]);
      const upWant = await sha256File(file);
      const r = await t.exec(net.client, ["sh", "-c", `nc -N -w 10 ${VIP} 9000 < ${file}`], 30_000);
      assertEquals(r.code, 0, r.stderr);
      await sink.waitFor(/GOT [0-9a-f]{64} \d+/, 15_000);
      assertEquals(/GOT ([0-9a-f]{64}) (\d+)/.exec(sink.output())!.slice(1), [
        upWant,
        String(32 * MB),
      ]);
      const c = await counters(net);
      assert((c["link.rx_gso"] ?? 0) > 0, `no super-frame received: ${JSON.stringify(c)}`);
      assert((c["link.tx_gso"] ?? 0) > 0, `no super-frame forwarded: ${JSON.stringify(c)}`);
      assertEquals(c["drop.tx_frag_needed"] ?? 0, 0);
    } finally {
      removeDirs();
    }
  },
  90_000,
);

/** A kernel host and `lb.ts stack --offload --serve http:80` on one bridge. */
async function stackNet(t: Topology) {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const br = await t.bridge(hub, "br");
  await t.attach(k1, hub, br, "eth0", "10.82.0.1/24");
  const tap = await t.tap(hub, br, "ts");
  const control = t.tempPath("ctl.sock");
  const p = t.lb(hub, [
    "stack",
    "--tap",
    tap,
    "--ip",
    "10.82.0.2/24",
    "--control",
    control,
    "--offload",
    "--serve",
    "http:80",
  ]);
  await p.waitFor("up on", 30_000);
  return { k1, control };
}

netnsTest(
  "offload stack: 20 MB from the stack's HTTP service and 20 MB to it, SHA-256 exact",
  async (t) => {
    const { k1, control } = await stackNet(t);
    const n = 20 * MB;
    const got = await t.execOk(k1, [
      "sh",
      "-c",
      `curl -sS --max-time 30 http://10.82.0.2/bytes/${n} | sha256sum`,
    ], 40_000);
    assertEquals(got.split(" ")[0], bytesSha256(n));
    const file = t.tempPath("up.bin");
    await t.execOk(k1, ["sh", "-c", `head -c ${n} /dev/urandom > ${file}`]);
    const want = (await t.execOk(k1, ["sha256sum", file])).split(" ")[0];
    const echoed = await t.execOk(k1, [
      "curl",
      "-sS",
      "--max-time",
      "30",
      "--data-binary",
      `@${file}`,
      "http://10.82.0.2/sha256",
    ], 40_000);
    assertEquals(echoed.trim(), want);
    const r = await t.lbRun(["stats", "--json", "--control", control]);
    assertEquals(r.code, 0, r.stderr);
    const c: Record<string, number> = JSON.parse(r.stdout).counters;
    assert((c["link.rx_gso"] ?? 0) > 0, `the kernel sent no super-frame: ${JSON.stringify(c)}`);
    assertEquals(c["drop.tcp_bad_checksum"] ?? 0, 0);
  },
  90_000,
);
