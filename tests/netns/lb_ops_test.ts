/**
 * Operating a running balancer: `lb.ts drain` (weight 0, then waiting for the server's active
 * connections), `lb.ts list --rate`, and the Prometheus endpoint (`--metrics`) scraped with curl
 * inside the balancer's namespace. Real servers: two kernel HTTP servers behind DR.
 */
import { assert, assertEquals, assertMatch } from "../assert.ts";
import { netnsTest } from "./topology.ts";
import {
  buildLbNet,
  curlRequests,
  lbJson,
  lbText,
  PY,
  removeDirs,
  startHttpServers,
  startLb,
  tally,
  VIP,
} from "./_lb_net.ts";

/** Opens one connection to the VIP and keeps it idle (ESTABLISHED) until killed. */
const IDLE_CLIENT = `
import socket, sys, time
s = socket.socket()
s.connect((sys.argv[1], 80))
print("connected", flush=True)
time.sleep(60)
`;

interface Snap {
  services: {
    conns: number;
    rates?: { cps: number };
    reals: { address: string; weight: number; activeConns: number }[];
  }[];
}

netnsTest("drain waits for active connections; rates; Prometheus metrics", async (t) => {
  try {
    const net = await buildLbNet(t, 2, "dr");
    await startHttpServers(net);
    const metricsAddr = "127.0.0.1:9100";
    const lb = await startLb(net, [
      "--service",
      "tcp:10.77.0.100:80",
      "--scheduler",
      "rr",
      "--method",
      "dr",
      "--real",
      "10.77.0.11",
      "--real",
      "10.77.0.12",
      "--metrics",
      metricsAddr,
    ], [`--allow-net=${metricsAddr}`]);
    assertMatch(lb.output(), /metrics on http:\/\/127\.0\.0\.1:9100\/metrics/);

    const idle = t.spawn(net.client, [PY, "-u", "-c", IDLE_CLIENT, VIP]);
    await idle.waitFor("connected", 10_000);
    const conns = await lbJson<{ entries: { state: string; real: string }[] }>(net, ["conns"]);
    const est = conns.entries.filter((c) => c.state === "ESTABLISHED");
    assertEquals(est.length, 1, JSON.stringify(conns));
    const held = est[0].real.split(":")[0];
    const other = held === "10.77.0.11" ? "10.77.0.12" : "10.77.0.11";
    const otherName = other === "10.77.0.11" ? "r1" : "r2";

    // Draining the server holding the idle connection times out (exit 1) with progress lines.
    let r = await t.lbRun(["drain", held, "--timeout", "1", "--control", net.control]);
    assertEquals(r.code, 1, r.stdout + r.stderr);
    assertMatch(r.stdout, new RegExp(`drain ${held}:80 in tcp 10\\.77\\.0\\.100:80: weight 0`));
    assertMatch(r.stdout, new RegExp(`drain ${held}: 1 active connection\\(s\\) left`));
    assertMatch(r.stderr, /timed out with 1 active connection/);
    let snap = await lbJson<Snap>(net, ["list"]);
    const weights = Object.fromEntries(snap.services[0].reals.map((x) => [x.address, x.weight]));
    assertEquals(weights, { [held]: 0, [other]: 1 });
    // Weight 0: new connections all go to the other server; the idle one stays.
    assertEquals(tally(await curlRequests(net, 40)), { [otherName]: 40 });

    // The idle client goes away: its flow leaves ESTABLISHED and the drain completes.
    await idle.stop();
    r = await t.lbRun(["drain", held, "--timeout", "10", "--control", net.control]);
    assertEquals(r.code, 0, r.stdout + r.stderr);
    assertMatch(r.stdout, new RegExp(`drain ${held}: 0 active connection\\(s\\) left`));

    // Rates: the 40 connections fall in the estimator's next 2 s sample.
    await new Promise((res) => setTimeout(res, 2500));
    snap = await lbJson<Snap>(net, ["list"]);
    assert((snap.services[0].rates?.cps ?? 0) > 0, JSON.stringify(snap.services[0]));
    const rate = await lbText(net, ["list", "--rate"]);
    assertMatch(rate, /^Prot LocalAddress:Port {17}CPS {4}InPPS {3}OutPPS {4}InBPS {3}OutBPS$/m);
    assertMatch(rate, /^TCP {2}10\.77\.0\.100:80 +[1-9]\d* +[1-9]\d* +0 +[1-9]\d* +0$/m);

    // Prometheus: scraped from the kernel network inside the balancer's namespace.
    const m = await t.execOk(net.hub, [
      "curl",
      "-sS",
      "--max-time",
      "5",
      `http://${metricsAddr}/metrics`,
    ]);
    const svc = 'protocol="tcp",vip="10.77.0.100",port="80"';
    assertMatch(m, /^# TYPE lbts_service_connections_total counter$/m);
    const total = Number(
      new RegExp(`^lbts_service_connections_total\\{${svc}\\} (\\d+)$`, "m").exec(m)?.[1],
    );
    assertEquals(total, snap.services[0].conns);
    assert(total >= 41);
    assertMatch(
      m,
      new RegExp(`^lbts_real_weight\\{${svc},real="${held.replace(/\./g, "\\.")}:80"\\} 0$`, "m"),
    );
    assertMatch(
      m,
      new RegExp(`^lbts_real_up\\{${svc},real="${other.replace(/\./g, "\\.")}:80"\\} 1$`, "m"),
    );
    assertMatch(m, /^lbts_conntable_capacity \d+$/m);
    assertMatch(m, /^lbts_conntable_entries \d+$/m);
  } finally {
    removeDirs();
  }
}, 40_000);
