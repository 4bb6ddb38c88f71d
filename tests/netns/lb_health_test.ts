/**
 * Health checks end to end: the balancer (DR, rr) in front of two kernel real servers, HTTP checks
 * from its userspace stack to each server's own address. One server's HTTP server is stopped:
 * after the fall threshold it is marked down (a JSON log line, `lb.ts list` marks it) and every
 * request after that goes to the other server, none failing; started again, it comes back after
 * the rise threshold.
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
  startBalancer,
  startHttpServers,
  tally,
  VIP,
} from "./_lb_net.ts";

/**
 * A client looping HTTP requests to the VIP for `seconds`, one new connection each (2 s timeout);
 * prints one JSON list of [start time (s since the epoch), server name or null for a failure].
 */
const LOOP_CLIENT = `
import json, socket, sys, time
host, seconds = sys.argv[1], float(sys.argv[2])
out = []
end = time.time() + seconds
while time.time() < end and len(out) < 5000:
    t0 = time.time()
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((host, 80))
        s.sendall(b"GET / HTTP/1.0\\r\\nHost: vip\\r\\n\\r\\n")
        data = b""
        while True:
            d = s.recv(4096)
            if not d:
                break
            data += d
        out.append([t0, data.split(b"\\r\\n\\r\\n", 1)[1].split()[0].decode()])
    except Exception:
        out.append([t0, None])
    s.close()
    time.sleep(0.02)
print(json.dumps(out))
`;

/** The JSON log lines of a process's output with event "health". */
function healthEvents(output: string): Record<string, string>[] {
  const out: Record<string, string>[] = [];
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const o = JSON.parse(line);
    if (o.event === "health") out.push(o);
  }
  return out;
}

netnsTest("health: a stopped server is taken out after fall, returns after rise", async (t) => {
  try {
    const net = await buildLbNet(t, 2, "dr");
    const servers = await startHttpServers(net);
    const lb = await startBalancer(net, [
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
      "--check",
      "http:/index.html:200",
      "--check-interval",
      "0.2",
      "--rise",
      "3",
      "--fall",
      "2",
      "--log-format",
      "json",
    ]);
    assertEquals(tally(await curlRequests(net, 20)), { r1: 10, r2: 10 });

    // A client loops requests through the VIP the whole time r1 is stopped and restarted.
    const loop = t.spawn(net.client, [PY, "-c", LOOP_CLIENT, VIP, "7"]);
    await new Promise((r) => setTimeout(r, 1000));
    // r1's HTTP server stops: its port answers RST, the checks fail.
    await servers[0].stop();
    await lb.waitFor(/"state":"down"/, 10_000);
    const down = healthEvents(lb.output());
    assertEquals(down.length, 1, lb.output());
    assertEquals([down[0].state, down[0].service, down[0].real], [
      "down",
      "tcp 10.77.0.100:80",
      "10.77.0.11:80",
    ]);
    assertMatch(down[0].reason, /ConnectionRefused|reset|refused/i);
    assertMatch(down[0].ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const list = await lbText(net, ["list"]);
    assertMatch(list, /^ {2}-> 10\.77\.0\.11:80 +Route +1 +\d+ +\d+ +DOWN$/m);
    assertMatch(list, /^ {2}-> 10\.77\.0\.12:80 +Route +1 +\d+ +\d+ +$/m);
    const snap = await lbJson<{ services: { reals: { available: boolean; weight: number }[] }[] }>(
      net,
      ["list"],
    );
    assertEquals(snap.services[0].reals.map((r) => [r.available, r.weight]), [[false, 1], [
      true,
      1,
    ]]);
    // After detection: every request goes to r2 and none fails (curlRequests throws on a failure).
    assertEquals(tally(await curlRequests(net, 30)), { r2: 30 });

    // r1 serves again: after `rise` good checks it is back in the rotation.
    const again = t.spawn(net.reals[0].ns, [
      PY,
      "-u",
      "-m",
      "http.server",
      "80",
      "--bind",
      "0.0.0.0",
      "--directory",
      net.reals[0].dir,
    ]);
    await again.waitFor("Serving HTTP", 15_000);
    await lb.waitFor(/"state":"up"/, 10_000);
    const events = healthEvents(lb.output());
    assertEquals(events.map((e) => e.state), ["down", "up"]);
    assertEquals(events[1].reason, "3 consecutive successful checks");
    const status = await loop.status;
    assertEquals(status.code, 0, loop.output());
    const reqs: [number, string | null][] = JSON.parse(loop.output().trim().split("\n").at(-1)!);
    const downAt = Date.parse(events[0].ts) / 1000;
    const upAt = Date.parse(events[1].ts) / 1000;
    // Before detection a request may hit the stopped r1 and fail; from detection on none fails,
    // none goes to r1 until it is up again, and after that both serve.
    const after = reqs.filter(([t0]) => t0 > downAt);
    assert(after.length > 20, `only ${after.length} requests after detection`);
    assertEquals(after.filter(([, who]) => who === null), [], "no failure after detection");
    assertEquals(
      after.filter(([t0, who]) => t0 < upAt && who === "r1"),
      [],
      "nothing to r1 while it is down",
    );
    const later = tally(reqs.filter(([t0]) => t0 > upAt + 0.05).map(([, who]) => who));
    assert(later.r1 > 0 && later.r2 > 0, JSON.stringify(later));
    const back = tally(await curlRequests(net, 20));
    assertEquals(back, { r1: 10, r2: 10 });
    assert(!(await lbText(net, ["list"])).includes("DOWN"));
  } finally {
    removeDirs();
  }
}, 40_000);
