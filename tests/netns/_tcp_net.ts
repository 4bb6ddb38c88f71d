/**
 * The network of the TCP namespace tests: one kernel host and the userspace host on a bridge.
 *
 *   k1 (10.81.0.1/24) ── br ── TAP ── userspace host (10.81.0.2/24, tests/netns/_tcp_host.ts)
 *
 * The bridge and the TAP live in a "hub" namespace; k1 is its own namespace.
 *
 * @module
 */
import { DENO, type Proc, type Topology } from "./topology.ts";

const HOST = new URL("./_tcp_host.ts", import.meta.url).pathname;

/** The kernel peer's address. */
export const KERNEL_IP = "10.81.0.1";
/** The userspace host's address. */
export const STACK_IP = "10.81.0.2";

/** The built network. */
export interface TcpNet {
  hub: string;
  k1: string;
  tap: string;
  stats: string;
}

/** Builds hub + k1 with a bridge and a TAP. */
export async function buildTcpNet(t: Topology): Promise<TcpNet> {
  const hub = await t.netns("hub");
  const k1 = await t.netns("k1");
  const br = await t.bridge(hub, "br");
  await t.attach(k1, hub, br, "eth0", `${KERNEL_IP}/24`);
  const tap = await t.tap(hub, br);
  return { hub, k1, tap, stats: t.tempPath("stats.json") };
}

/** Starts the userspace host with `job` and waits for "ready". */
export async function startHost(
  t: Topology,
  n: TcpNet,
  job: string[],
  tcp: Record<string, unknown> = {},
  impair?: string,
): Promise<Proc> {
  const p = t.spawn(n.hub, [
    DENO,
    "run",
    "-A",
    HOST,
    "--tap",
    n.tap,
    "--ip",
    `${STACK_IP}/24`,
    "--tcp",
    JSON.stringify(tcp),
    "--stats",
    n.stats,
    ...(impair === undefined ? [] : ["--impair", impair]),
    ...job,
  ]);
  await p.waitFor("ready", 30_000);
  return p;
}

/** One socket row of the host's stats file. */
export interface SocketRow {
  local: string;
  remote: string;
  state: string;
  retransmits: number;
  recvQ: number;
  sendQ: number;
}

/** The host's latest `{ tcp, counters }`. */
export function readStats(n: TcpNet): { tcp: SocketRow[]; counters: Record<string, number> } {
  try {
    return JSON.parse(Deno.readTextFileSync(n.stats));
  } catch {
    return { tcp: [], counters: {} };
  }
}

/** Polls the stats until `cond` holds (bounded), returns them. */
export async function waitStats(
  n: TcpNet,
  cond: (s: { tcp: SocketRow[]; counters: Record<string, number> }) => boolean,
  timeoutMs = 20_000,
  what = "stats condition",
): Promise<{ tcp: SocketRow[]; counters: Record<string, number> }> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const s = readStats(n);
    if (cond(s)) return s;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** sha256 of the host's /bytes/N pattern (see _tcp_host.ts fillPattern). */
export async function patternSha256(n: number): Promise<string> {
  const { createHash } = await import("node:crypto");
  const h = createHash("sha256");
  const chunk = new Uint8Array(65536);
  for (let off = 0; off < n; off += chunk.length) {
    const k = Math.min(chunk.length, n - off);
    for (let i = 0; i < k; i++) {
      const x = off + i;
      chunk[i] = (x ^ (x >>> 8) ^ (x >>> 16)) & 0xff;
    }
    h.update(chunk.subarray(0, k));
  }
  return h.digest("hex");
}

/**
 * A python3 kernel-side server (run in k1): `mode` "sink" reads to EOF and answers the hex
 * sha256 then closes; "source N" sends N pattern bytes then closes; "http N" answers one
 * HTTP/1.0 request with N pattern bytes.
 */
export const PY_SERVER = `
import socket, sys, hashlib
mode = sys.argv[1]; port = int(sys.argv[2])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", port)); s.listen(128)
print("listening", flush=True)
# Byte x of the pattern is (x ^ x>>8 ^ x>>16) & 0xff. For a 64 KiB chunk at a multiple of
# 64 KiB that is base[i] ^ ((off >> 16) & 0xff): one translate per chunk.
base = bytes(((i ^ (i >> 8)) & 0xff) for i in range(1 << 16))
def chunk_at(off, k):
    c = (off >> 16) & 0xff
    return base[:k].translate(bytes(b ^ c for b in range(256)))
while True:
    c, _ = s.accept()
    if mode == "sink":
        h = hashlib.sha256(); n = 0
        while True:
            b = c.recv(1 << 20)
            if not b: break
            h.update(b); n += len(b)
        c.sendall((h.hexdigest() + "\\n").encode()); c.close()
        print("sink", n, h.hexdigest(), flush=True)
    elif mode in ("source", "http"):
        n = int(sys.argv[3])
        if mode == "http":
            req = b""
            while b"\\r\\n\\r\\n" not in req:
                b = c.recv(4096)
                if not b: break
                req += b
            c.sendall(("HTTP/1.0 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % n).encode())
        off = 0
        while off < n:
            k = min(1 << 16, n - off)
            c.sendall(chunk_at(off, k)); off += k
        c.shutdown(socket.SHUT_WR)
        while c.recv(4096): pass
        c.close()
        print("sent", n, flush=True)
`;
