/**
 * The stack's own TCP over a TAP with offloads (`lb.ts stack --offload`, stack/tcp/tso.ts)
 * against the Linux kernel as the peer:
 * - 200 MB each way through the HTTP service (`GET /bytes/N`, `POST /sha256`), SHA-256 exact,
 *   with super-frames both ways: the kernel's taken whole and ACKed at once, ours (TSO) cut by
 *   the kernel;
 * - the same with 1% of the frames lost in each direction (`--impair`, seeded): a lost
 *   super-frame is 45 segments at once, recovered on MSS boundaries by the stack and the kernel.
 *
 * Throughput figures are for scripts/bench/tcp_bench.ts; these tests check exactness and that
 * the offload paths were taken.
 */
import { assert, assertEquals } from "../assert.ts";
import { bytesSha256 } from "../../stack/services/http.ts";
import { netnsTest, type Topology } from "./topology.ts";

const MB = 1 << 20;
const KERNEL = "10.84.0.1";
const STACK = "10.84.0.2";

/** A kernel host k1 and `lb.ts stack --offload --serve http:80 [extra]` on one bridge. */
async function offloadNet(t: Topology, extra: string[] = []) {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const br = await t.bridge(hub, "br");
  await t.attach(k1, hub, br, "eth0", `${KERNEL}/24`);
  const tap = await t.tap(hub, br, "to");
  const control = t.tempPath("ctl.sock");
  const p = t.lb(hub, [
    "stack",
    "--tap",
    tap,
    "--ip",
    `${STACK}/24`,
    "--control",
    control,
    "--offload",
    "--serve",
    "http:80",
    ...extra,
  ]);
  await p.waitFor("up on", 30_000);
  return { k1, control };
}

/** `n` bytes from the stack's /bytes/N, hashed by the kernel side. */
async function download(t: Topology, k1: string, n: number, timeoutS: number): Promise<string> {
  const out = await t.execOk(k1, [
    "bash",
    "-c",
    `set -o pipefail; curl -sS --max-time ${timeoutS} http://${STACK}/bytes/${n} | sha256sum`,
  ], (timeoutS + 10) * 1000);
  return out.split(" ")[0];
}

/** Uploads `n` random bytes to POST /sha256; returns [what was sent, what the stack hashed]. */
async function upload(
  t: Topology,
  k1: string,
  n: number,
  timeoutS: number,
): Promise<[string, string]> {
  const file = t.tempPath("up.bin");
  await t.execOk(k1, ["sh", "-c", `head -c ${n} /dev/urandom > ${file}`], 60_000);
  const want = (await t.execOk(k1, ["sha256sum", file], 60_000)).split(" ")[0];
  const got = await t.execOk(k1, [
    "curl",
    "-sS",
    "--max-time",
    String(timeoutS),
    "--data-binary",
    `@${file}`,
    `http://${STACK}/sha256`,
  ], (timeoutS + 10) * 1000);
  return [want, got.trim()];
}

/** The stack's counters through the control socket. */
async function counters(t: Topology, control: string): Promise<Record<string, number>> {
  const r = await t.lbRun(["stats", "--json", "--control", control]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).counters;
}

netnsTest(
  "offload TCP: 200 MB from and 200 MB to `lb.ts stack --offload`, SHA-256 exact",
  async (t) => {
    const { k1, control } = await offloadNet(t);
    const n = 200 * MB;
    assertEquals(await download(t, k1, n, 60), bytesSha256(n));
    const [want, got] = await upload(t, k1, n, 60);
    assertEquals(got, want);
    const c = await counters(t, control);
    const show = JSON.stringify(c);
    // Ours: TSO super-frames, handed to the kernel whole.
    assert((c["tcp.tso_frames"] ?? 0) > 1000, `few super-frames sent: ${show}`);
    assert((c["link.tx_gso"] ?? 0) >= (c["tcp.tso_frames"] ?? 0), show);
    assertEquals(c["drop.tx_gso_unresolved"] ?? 0, 0, show);
    assertEquals(c["drop.tx_bad_offload"] ?? 0, 0, show);
    // The kernel's: super-frames taken as one segment each, ACKed at once (no 40 ms waits:
    // a delayed ACK per super-frame would be thousands).
    assert((c["link.rx_gso"] ?? 0) > 1000, `few super-frames received: ${show}`);
    assert((c["tcp.delayed_acks"] ?? 0) < 100, `ACKs waited for the timer: ${show}`);
    assertEquals(c["drop.tcp_bad_checksum"] ?? 0, 0, show);
  },
  240_000,
);

netnsTest(
  "offload TCP with 1% loss each way: 30 MB both directions exact, recovered",
  async (t) => {
    const { k1, control } = await offloadNet(t, ["--impair", "loss=1%,seed=7"]);
    const n = 30 * MB;
    assertEquals(await download(t, k1, n, 120), bytesSha256(n));
    const [want, got] = await upload(t, k1, n, 120);
    assertEquals(got, want);
    const c = await counters(t, control);
    const show = JSON.stringify(c);
    assert((c["tcp.tso_frames"] ?? 0) > 0, `no super-frame sent: ${show}`);
    assert((c["link.rx_gso"] ?? 0) > 0, `no super-frame received: ${show}`);
    assert((c["tcp.retransmits"] ?? 0) > 0, `nothing retransmitted: ${show}`);
  },
  300_000,
);
