/**
 * The operator's view of a running balancer, against real peers:
 * - the status page in headless Chromium (driven over the DevTools protocol by tests/netns/
 *   _cdp.ts inside the balancer's namespace): service and server rows, a stopped server shown
 *   DOWN within two polls of the balancer knowing it, charts with data points, a screenshot;
 * - per-service health checks: two services with different checks, one server failing only one
 *   (from `--check` flags in `--service` groups, and from the config file, where a reload moves a
 *   check from one service to the other); `/status.json` validated against
 *   docs/status.schema.json;
 * - `set --max-conns` below the number of flows: established flows keep working, a new one waits
 *   for room (its SYN is refused and retransmitted), the counters say so; an admin verb adding a
 *   DR server off the link is refused; every query of the Grafana dashboard names a metric this
 *   live instance's `/metrics` exports.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { programMissing } from "../requires.ts";
import { statusValidator } from "../lb/_status_schema.ts";
import { DENO, netnsTest, type Topology } from "./topology.ts";
import {
  buildLbNet,
  lbJson,
  type LbNet,
  lbText,
  PY,
  removeDirs,
  startHttpServers,
  startLb,
  tally,
  VIP,
} from "./_lb_net.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CDP = `${ROOT}tests/netns/_cdp.ts`;
const METRICS = "127.0.0.1:9100";
const DEVTOOLS_PORT = "9222";

interface Snap {
  capacity: number;
  connections: number;
  table: Record<string, number>;
  counters: Record<string, number>;
  services: { port: number; reals: { address: string; available?: boolean }[] }[];
}

/** GET `path` on the balancer's metrics address, from inside its namespace. */
function httpGet(net: LbNet, path: string): Promise<string> {
  return net.t.execOk(net.hub, ["curl", "-sS", "--max-time", "5", `http://${METRICS}${path}`]);
}

/** Polls `probe` every 200 ms until it returns a value, at most `ms`; throws with `what`. */
async function waitUntil<T>(what: string, ms: number, probe: () => Promise<T | null>): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 500; i++) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Fetches `/status.json` and checks it against the documented schema. */
async function validStatus(net: LbNet): Promise<StatusDoc> {
  const doc = JSON.parse(await httpGet(net, "/status.json"));
  const validate = await statusValidator();
  assert(validate(doc), JSON.stringify(validate.errors, null, 2));
  return doc as StatusDoc;
}

interface StatusDoc {
  table: { capacity: number; entries: number; events: Record<string, number> };
  services: { name: string; check: string | null; reals: { total: number; down: number } }[];
  reals: { items: { service: number; address: string; port: number; health: string }[] };
  down: { service: number; address: string; port: number }[];
  drops: { layer: string; reason: string; count: number }[];
}

// ---------------------------------------------------------------------------------- the page

/** What the page shows, read from its DOM. */
interface PageView {
  polls: number;
  /** "page 1 of 21 (...)". */
  pager: string;
  services: string[];
  reals: { real: string; service: string; health: string }[];
  /** The "Servers down" list. */
  down: string[];
  /** data-points of every chart. */
  points: number[];
  events: string[];
  drops: number;
}

const VIEW = `(() => {
  const q = (s) => [...document.querySelectorAll(s)];
  return {
    // Before the page has loaded (about:blank, or still loading): no polls yet.
    polls: Number(document.getElementById("updated")?.dataset.polls ?? 0),
    pager: document.getElementById("pageinfo")?.textContent ?? "",
    services: q("tr.service").map((r) => r.dataset.service),
    reals: q("tr.real").map((r) => ({
      real: r.dataset.real,
      service: r.dataset.service,
      health: r.dataset.health,
    })),
    down: q("#down li[data-real]").map((l) => l.dataset.real),
    points: q("tr .chart").map((c) => Number(c.dataset.points)),
    events: q("#events li").map((l) => l.textContent),
    drops: q("#drops tbody tr").length,
  };
})()`;

/** Runs the DevTools client inside the hub namespace: one action, its JSON answer. */
async function cdp(t: Topology, net: LbNet, args: string[], write?: string): Promise<unknown> {
  const perms = [`--allow-net=127.0.0.1:${DEVTOOLS_PORT}`];
  if (write !== undefined) perms.push(`--allow-write=${write}`);
  const r = await t.exec(net.hub, [DENO, "run", ...perms, CDP, DEVTOOLS_PORT, ...args], 20_000);
  const out = JSON.parse(r.stdout.trim().split("\n").at(-1) || "{}");
  if (r.code !== 0 || out.error !== undefined) {
    throw new Error(`cdp ${args[0]}: ${out.error ?? r.stderr}`);
  }
  return out.value ?? out;
}

const view = (t: Topology, net: LbNet) => cdp(t, net, ["eval", VIEW]) as Promise<PageView>;

/** 1,000 TUN real servers (off the link, through the gateway) of a UDP service nobody uses. */
const MANY_REALS = Array.from({ length: 1000 }, (_, i) => i + 1).flatMap((n) => [
  "--real",
  `10.99.${n >> 8}.${n & 255}`, // 10.99.0.1 .. 10.99.3.232
]);

netnsTest(
  "status page in headless Chromium: rows, DOWN within two polls, charts, 1,000 servers paged",
  async (t) => {
    const profile = t.tempPath("chromium");
    try {
      const net = await buildLbNet(t, 2, "dr");
      const servers = await startHttpServers(net);
      await startLb(net, [
        "--check",
        "http:/index.html:200",
        "--check-interval",
        "0.3",
        "--rise",
        "1",
        "--fall",
        "1",
        "--service",
        "tcp:10.77.0.100:80",
        "--scheduler",
        "rr",
        "--real",
        "10.77.0.11",
        "--real",
        "10.77.0.12",
        // The page must stay usable with 1,000 servers: UDP, so nothing probes them.
        "--service",
        "udp:10.77.0.100:53",
        "--method",
        "tun",
        ...MANY_REALS,
        "--metrics",
        METRICS,
      ], [`--allow-net=${METRICS}`]);
      // A request loop through the VIP for the whole test: 50 a second (steady rates for the
      // charts), bounded at 4,500 requests or 90 s.
      t.spawn(net.client, [
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "--rate",
        "50/s",
        "--max-time",
        "90",
        "-H",
        "Connection: close",
        `http://${VIP}/?[1-4500]`,
      ]);
      const browser = t.spawn(net.hub, [
        "chromium",
        "--headless",
        "--no-sandbox", // root: Chromium's sandbox refuses to run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--no-default-browser-check",
        `--user-data-dir=${profile}`,
        `--remote-debugging-port=${DEVTOOLS_PORT}`,
        "--window-size=1400,1100",
        `http://${METRICS}/?poll=1`,
      ]);
      await browser.waitFor("DevTools listening on", 30_000);

      // Rows for the service and both servers, UP; charts fed with samples (the estimator
      // samples every 2 s, so after a few polls each chart has points).
      let v = await waitUntil("the page's charts to have data", 30_000, async () => {
        const v = await view(t, net);
        return v.polls >= 3 && v.points.length > 0 && v.points.every((p) => p >= 2) ? v : null;
      });
      assertEquals(v.services, ["tcp 10.77.0.100:80", "udp 10.77.0.100:53"]);
      // 1,002 servers, 50 a page: the TCP service's two, then 48 of the UDP service's.
      assertMatch(v.pager, /^page 1 of 21 \(1002 real servers, 50 a page\)$/);
      assertEquals(v.reals.length, 50);
      assertEquals(v.reals.slice(0, 3), [
        { real: "10.77.0.11:80", service: "tcp 10.77.0.100:80", health: "up" },
        { real: "10.77.0.12:80", service: "tcp 10.77.0.100:80", health: "up" },
        { real: "10.99.0.1:53", service: "udp 10.77.0.100:53", health: "unchecked" },
      ]);
      // 3 charts (conn/s, pkt/s, B/s) per service row and per server row.
      assertEquals(v.points.length, 3 * (2 + 50));
      // The last page: the UDP service's last 2 servers.
      await cdp(t, net, ["eval", 'document.getElementById("next").click()']);
      for (let i = 0; i < 20 && !(await view(t, net)).pager.startsWith("page 21 "); i++) {
        await cdp(t, net, ["eval", 'document.getElementById("next").click()']);
      }
      v = await view(t, net);
      assertMatch(v.pager, /^page 21 of 21 /);
      assertEquals(v.reals.map((r) => r.real), ["10.99.3.231:53", "10.99.3.232:53"]);

      // r2 stops: once the balancer has it down, the page shows it within two polls.
      await servers[1].stop();
      await waitUntil("the balancer to take r2 down", 15_000, async () => {
        const s = await lbJson<Snap>(net, ["list"]);
        return s.services[0].reals[1].available === false ? true : null;
      });
      // Still on the last page: the server's row is not shown, the "Servers down" list names it.
      const known = (await view(t, net)).polls;
      v = await waitUntil("DOWN on the page", 15_000, async () => {
        const v = await view(t, net);
        return v.down.includes("10.77.0.12:80") ? v : null;
      });
      assert(v.polls <= known + 2, `DOWN shown at poll ${v.polls}, the balancer knew by ${known}`);
      assertEquals(v.down, ["10.77.0.12:80"]);
      // Back on page 1, the row says DOWN too, the other server UP.
      await cdp(t, net, ["eval", 'location.search = "?poll=1&page=1"']);
      v = await waitUntil("page 1 again", 15_000, async () => {
        const v = await view(t, net);
        return v.polls >= 1 && v.pager.startsWith("page 1 ") ? v : null;
      });
      assertEquals(v.reals.slice(0, 2).map((r) => [r.real, r.health]), [
        ["10.77.0.11:80", "up"],
        ["10.77.0.12:80", "down"],
      ]);
      assert(
        v.events.some((e) => /health tcp 10\.77\.0\.100:80 real 10\.77\.0\.12:80 DOWN/.test(e)),
        JSON.stringify(v.events),
      );

      const wanted = Deno.env.get("STATUS_PAGE_SCREENSHOT");
      // For the README's picture: longer charts.
      if (wanted !== undefined) await new Promise((r) => setTimeout(r, 30_000));
      const png = t.tempPath("status-page.png");
      const shot = await cdp(t, net, ["screenshot", png], png) as { bytes: number };
      const head = Deno.readFileSync(png).subarray(0, 8);
      assertEquals([...head], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]); // PNG signature
      assert(shot.bytes > 10_000, `screenshot of ${shot.bytes} bytes`);
      console.log(`status page screenshot: ${png} (${shot.bytes} bytes)`);
      if (wanted !== undefined) Deno.copyFileSync(png, wanted);
    } finally {
      removeDirs();
      await t.destroy(); // Chromium first, so its profile directory can go
      try {
        Deno.removeSync(profile, { recursive: true });
      } catch { /* Chromium never started */ }
    }
  },
  90_000,
  programMissing("chromium", "bash scripts/setup.sh --browser"),
);

// ---------------------------------------------------------------------------------- health

/** `count` requests to VIP:port from the client; each body's first word. */
async function requests(net: LbNet, port: number, count: number): Promise<string[]> {
  const out = await net.t.execOk(net.client, [
    "curl",
    "-sS",
    "--max-time",
    "30",
    "-H",
    "Connection: close",
    `http://${VIP}:${port}/?[1-${count}]`,
  ], 40_000);
  return out.split("\n").filter((l) => l !== "").map((l) => l.split(/\s/)[0]);
}

netnsTest("per-service health: two services, two checks, one server failing one", async (t) => {
  try {
    const net = await buildLbNet(t, 2, "dr");
    // r1 serves a.txt and b.txt; r2 only a.txt: it fails the :8080 service's check only.
    for (const r of net.reals) {
      Deno.writeTextFileSync(`${r.dir}/a.txt`, "a\n");
      if (r.name === "r1") Deno.writeTextFileSync(`${r.dir}/b.txt`, "b\n");
    }
    await startHttpServers(net, 80);
    await startHttpServers(net, 8080);
    const lb = await startLb(net, [
      // Global: every service...
      "--check",
      "http:/a.txt:200",
      "--check-interval",
      "0.2",
      "--rise",
      "1",
      "--fall",
      "1",
      "--service",
      "tcp:10.77.0.100:80",
      "--scheduler",
      "rr",
      "--real",
      "10.77.0.11",
      "--real",
      "10.77.0.12",
      "--service",
      "tcp:10.77.0.100:8080",
      "--scheduler",
      "rr",
      "--real",
      "10.77.0.11",
      "--real",
      "10.77.0.12",
      // ...but this one, which checks another file.
      "--check",
      "http:/b.txt:200",
      "--metrics",
      METRICS,
    ], [`--allow-net=${METRICS}`]);
    await lb.waitFor(/tcp 10\.77\.0\.100:8080 real 10\.77\.0\.12:8080 DOWN: .* answered 404/);
    // Long enough for several more probes of every server.
    await new Promise((r) => setTimeout(r, 1000));
    const snap = await lbJson<Snap>(net, ["list"]);
    const avail = snap.services.map((s) => s.reals.map((r) => r.available));
    assertEquals(avail, [[true, true], [true, false]]);
    assertEquals(tally(await requests(net, 80, 10)), { r1: 5, r2: 5 });
    assertEquals(tally(await requests(net, 8080, 10)), { r1: 10 });
    // Only the :8080 service's server went down: one DOWN line in the log.
    assertEquals(lb.output().match(/ DOWN: /g)?.length, 1, lb.output());

    // save writes the global check and the service's own.
    const saved = JSON.parse(await lbText(net, ["save"]));
    assertEquals(saved.health.check, "http:/a.txt:200");
    assertEquals(saved.services[0].health, undefined);
    assertEquals(saved.services[1].health, {
      check: "http:/b.txt:200",
      interval: 0.2,
      timeout: 0.2,
      rise: 1,
      fall: 1,
    });

    // The status document says the same, in the documented schema.
    const doc = await validStatus(net);
    assertEquals(doc.services.map((s) => [s.name, s.check, s.reals.down]), [
      ["tcp 10.77.0.100:80", "http:/a.txt:200", 0],
      ["tcp 10.77.0.100:8080", "http:/b.txt:200", 1],
    ]);
    assertEquals(doc.reals.items.map((r) => [r.service, r.address, r.port, r.health]), [
      [0, "10.77.0.11", 80, "up"],
      [0, "10.77.0.12", 80, "up"],
      [1, "10.77.0.11", 8080, "up"],
      [1, "10.77.0.12", 8080, "down"],
    ]);
    assertEquals(doc.down.map((d) => [d.service, d.address, d.port]), [[1, "10.77.0.12", 8080]]);
  } finally {
    removeDirs();
  }
}, 60_000);

netnsTest("per-service health from the config file; a reload moves a check", async (t) => {
  try {
    const net = await buildLbNet(t, 2, "dr");
    for (const r of net.reals) {
      Deno.writeTextFileSync(`${r.dir}/a.txt`, "a\n");
      if (r.name === "r1") Deno.writeTextFileSync(`${r.dir}/b.txt`, "b\n");
    }
    await startHttpServers(net, 80);
    await startHttpServers(net, 8080);
    const service = (port: number, health?: unknown) => ({
      protocol: "tcp",
      vip: VIP,
      port,
      scheduler: "rr",
      ...(health !== undefined ? { health } : {}),
      reals: [{ address: "10.77.0.11" }, { address: "10.77.0.12" }],
    });
    const file = t.tempPath("lb.json");
    const write = (services: unknown[]) =>
      Deno.writeTextFileSync(
        file,
        JSON.stringify({
          health: { check: "http:/a.txt:200", interval: 0.2, rise: 1, fall: 1 },
          services,
        }),
      );
    write([service(80), service(8080, { check: "http:/b.txt:200" })]);
    const lb = await startLb(net, ["--config", file], [`--allow-read=${file}`]);
    const avail = async () =>
      (await lbJson<Snap>(net, ["list"])).services.map((s) => s.reals.map((r) => r.available));
    await waitUntil("r2 down in :8080 only", 10_000, async () => {
      const a = await avail();
      return JSON.stringify(a) === "[[true,true],[true,false]]" ? a : null;
    });
    // The :80 service takes b.txt's check; :8080 goes back to the global one.
    write([service(80, { check: "http:/b.txt:200" }), service(8080)]);
    const r = await lbText(net, ["reload"]);
    assertMatch(r, /reloaded, 2 change\(s\)/);
    assertMatch(r, /service tcp 10\.77\.0\.100:8080: own health checks removed/);
    assertMatch(r, /service tcp 10\.77\.0\.100:80: health checks changed/);
    await waitUntil("r2 down in :80 only", 10_000, async () => {
      const a = await avail();
      return JSON.stringify(a) === "[[true,false],[true,true]]" ? a : null;
    });
    await lb.waitFor(/tcp 10\.77\.0\.100:80 real 10\.77\.0\.12:80 DOWN/, 5_000);
    const saved = JSON.parse(await lbText(net, ["save"]));
    assertEquals(saved.services[0].health.check, "http:/b.txt:200");
    assertEquals(saved.services[1].health, undefined);
    assertEquals(saved.health.check, "http:/a.txt:200");
  } finally {
    removeDirs();
  }
}, 60_000);

// ---------------------------------------------------------------------------------- maxConns

/**
 * Opens N connections to the VIP and keeps them idle (ESTABLISHED); once FILE exists, sends a
 * request on each, prints the answers' first words as JSON and closes them.
 */
const HOLDER = `
import json, os, socket, sys, time
host, n, flag = sys.argv[1], int(sys.argv[2]), sys.argv[3]
socks = []
for i in range(n):
    s = socket.socket()
    s.settimeout(10)
    s.connect((host, 80))
    socks.append(s)
print("connected", flush=True)
for i in range(300):
    if os.path.exists(flag):
        break
    time.sleep(0.1)
out = []
for s in socks:
    s.sendall(b"GET / HTTP/1.0\\r\\nHost: vip\\r\\n\\r\\n")
    data = b""
    while True:
        d = s.recv(4096)
        if not d:
            break
        data += d
    out.append(data.split(b"\\r\\n\\r\\n", 1)[1].split()[0].decode())
    s.close()
print(json.dumps(out), flush=True)
`;

netnsTest("maxConns shrinks below the flows; Grafana queries name exported metrics", async (t) => {
  try {
    const net = await buildLbNet(t, 2, "dr");
    await startHttpServers(net);
    await startLb(net, [
      "--service",
      "tcp:10.77.0.100:80",
      "--scheduler",
      "rr",
      "--real",
      "10.77.0.11",
      "--real",
      "10.77.0.12",
      "--max-conns",
      "64",
      // Closed flows leave the table a second after their FIN (room comes back quickly).
      "--timeout-tcpfin",
      "1",
      "--metrics",
      METRICS,
    ], [`--allow-net=${METRICS}`]);
    const flag = t.tempPath("release");
    const holder = t.spawn(net.client, [PY, "-u", "-c", HOLDER, VIP, "3", flag]);
    await holder.waitFor("connected", 10_000);
    const est = async () =>
      (await lbJson<{ entries: { state: string }[] }>(net, ["conns"])).entries
        .filter((c) => c.state === "ESTABLISHED").length;
    assertEquals(await est(), 3);

    // Below the three flows: all stay.
    const r = await t.lbRun(["set", "--max-conns", "2", "--control", net.control]);
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /maxConns 64 -> 2 \(3 flows now: new flows are refused until fewer/);
    let snap = await lbJson<Snap>(net, ["list"]);
    assertEquals([snap.capacity, snap.connections], [2, 3]);
    assertEquals(await est(), 3);
    assertMatch(await lbText(net, ["list"]), /IP Virtual Server version \S+ \(size=2\)/);

    // A new connection is refused while the table is over its bound (curl gives up at 2 s).
    const refused = await t.exec(net.client, ["curl", "-sS", "--max-time", "2", `http://${VIP}/`]);
    assertEquals(refused.code, 28, refused.stdout + refused.stderr); // curl: timed out
    snap = await lbJson<Snap>(net, ["list"]);
    assert(snap.table.refused >= 1, JSON.stringify(snap.table));
    assert(snap.counters["lb.drop_table_full"] >= 1, JSON.stringify(snap.counters));

    // Another one waits for room: its SYN retransmissions get in once the held flows end.
    const waiting = t.spawn(net.client, [
      "curl",
      "-sS",
      "--max-time",
      "20",
      "-w",
      " %{time_total}\n",
      `http://${VIP}/`,
    ]);
    await new Promise((res) => setTimeout(res, 500));
    // The established flows still carry traffic both ways after the shrink.
    Deno.writeTextFileSync(flag, "");
    await holder.waitFor("]", 15_000);
    const answers = JSON.parse(holder.output().trim().split("\n").at(-1)!);
    assertEquals(answers.length, 3);
    for (const a of answers) assertMatch(a, /^r[12]$/);
    const status = await waiting.status;
    assertEquals(status.code, 0, waiting.output());
    const [body, seconds] = waiting.output().trim().split(/\s+/);
    assertMatch(body, /^r[12]$/);
    // It did wait: its first SYN was refused, a retransmission (1 s later at the earliest) got in.
    assert(Number(seconds) >= 1, waiting.output());

    // The status document shows the bound and the refusals (schema-valid with the table over it
    // a moment ago, and now).
    const doc = await validStatus(net);
    assertEquals(doc.table.capacity, 2);
    assert(doc.table.events.refused >= 1);
    assert(doc.drops.some((d) => d.layer === "balancer" && d.reason === "table_full"));

    // Growing again: new flows flow.
    assertEquals((await t.lbRun(["set", "--max-conns", "128", "--control", net.control])).code, 0);
    const ok = await t.execOk(net.client, ["curl", "-sS", "--max-time", "5", `http://${VIP}/`]);
    assertMatch(ok, /^r[12]$/m);

    // The admin verbs run --config's host checks: a DR server off the link is refused, with
    // the reason, and nothing changes.
    const off = await t.lbRun([
      "add-server",
      "-t",
      `${VIP}:80`,
      "-r",
      "10.99.0.5",
      "-g",
      "--control",
      net.control,
    ]);
    assertEquals(off.code, 1, off.stdout + off.stderr);
    assertMatch(
      off.stderr,
      /add-server: real server 10\.99\.0\.5: direct routing needs the real server on the balancer's link \(10\.77\.0\.0\/24\)/,
    );
    snap = await lbJson<Snap>(net, ["list"]);
    assertEquals(snap.services[0].reals.map((x) => x.address), ["10.77.0.11", "10.77.0.12"]);

    // Every metric the Grafana dashboard queries is one this instance exports.
    const metrics = await httpGet(net, "/metrics");
    const exported = new Set([...metrics.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const dash = JSON.parse(Deno.readTextFileSync(`${ROOT}examples/grafana/lbts.json`));
    const queries: string[] = [];
    const walk = (v: unknown): void => {
      if (Array.isArray(v)) v.forEach(walk);
      else if (typeof v === "object" && v !== null) {
        for (const [k, x] of Object.entries(v)) {
          if ((k === "expr" || k === "definition") && typeof x === "string") queries.push(x);
          else walk(x);
        }
      }
    };
    walk(dash);
    assert(queries.length >= 15, `${queries.length} queries`);
    const used = new Set(queries.flatMap((q) => q.match(/\blbts_[a-z_]+\b/g) ?? []));
    for (const q of queries) assert(/\blbts_[a-z_]+\b/.test(q), `query names no metric: ${q}`);
    const missing = [...used].filter((m) => !exported.has(m));
    assertEquals(missing, [], `exported: ${[...exported].join(", ")}`);
  } finally {
    removeDirs();
  }
}, 60_000);
