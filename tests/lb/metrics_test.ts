import { assert, assertEquals } from "../assert.ts";
import { ACK, frame, SYN, tcpPacket } from "./_packets.ts";
import { CLIENT, CLIENT_MAC, LB_MAC, REAL1, REAL2, rig, VIP } from "./_rig.ts";
import { escapeLabel, renderMetrics } from "../../lb/metrics.ts";
import {
  CLIENT6,
  CLIENT_MAC as CLIENT6_MAC,
  frame6,
  LB_MAC as LB6_MAC,
  rig6,
  tcp6Packet,
  VIP6,
} from "./_rig6.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition text back, checking its grammar line by line. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  assert(text.endsWith("\n"), "the text ends with a line feed");
  const types = new Map<string, string>();
  const helped = new Set<string>();
  const samples: Sample[] = [];
  const seen = new Set<string>();
  for (const line of text.slice(0, -1).split("\n")) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$/.exec(line);
    if (m !== null) {
      assert(!helped.has(m[1]), `HELP twice for ${m[1]}`);
      helped.add(m[1]);
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$/.exec(line);
    if (m !== null) {
      assert(helped.has(m[1]) && !types.has(m[1]), `TYPE for ${m[1]} after its HELP, once`);
      types.set(m[1], m[2]);
      continue;
    }
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.e+]+|NaN)$/.exec(line);
    assert(m !== null, `not a sample line: ${line}`);
    assert(types.has(m[1]), `sample before the TYPE of ${m[1]}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? "";
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let consumed = 0;
    for (let lm = re.exec(body); lm !== null; lm = re.exec(body)) {
      labels[lm[1]] = lm[2].replace(/\\n/g, "\n").replace(/\\"/g, '"').replace(/\\\\/g, "\\");
      consumed = re.lastIndex;
      if (lm[3] === "") break;
    }
    assertEquals(consumed, body.length, `bad labels: ${body}`);
    const key = `${m[1]}${JSON.stringify(labels)}`;
    assert(!seen.has(key), `duplicate series ${key}`);
    seen.add(key);
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

function value(samples: Sample[], name: string, labels: Record<string, string>): number {
  const hits = samples.filter((s) =>
    s.name === name && JSON.stringify(s.labels) === JSON.stringify(labels)
  );
  assertEquals(hits.length, 1, `${name} ${JSON.stringify(labels)}`);
  return hits[0].value;
}

Deno.test("renderMetrics: every series parses back and matches the Balancer's snapshot", () => {
  const r = rig({
    services: [{ method: "dr", reals: [{ address: REAL1 }, { address: REAL2, weight: 3 }] }],
  });
  for (const port of [40001, 40002, 40003]) {
    const p = tcpPacket({ src: CLIENT, dst: VIP, sport: port, dport: 80, flags: SYN });
    assertEquals(r.send(frame(LB_MAC, CLIENT_MAC, p)), "consumed");
  }
  // A non-SYN without a flow: dropped and counted as lb.drop_no_flow.
  const stray = tcpPacket({ src: CLIENT, dst: VIP, sport: 40009, dport: 80, flags: ACK });
  r.send(frame(LB_MAC, CLIENT_MAC, stray));
  const service = r.balancer.services.list()[0];
  service.editReal(REAL2, 0, { available: false });

  const snap = r.balancer.snapshot();
  const counters = r.stack.counters.snapshot();
  const { samples, types } = parse(renderMetrics(snap, counters));

  const svc = { protocol: "tcp", vip: "10.0.0.100", port: "80" };
  assertEquals(value(samples, "lbts_service_connections_total", svc), 3);
  assertEquals(snap.services[0].conns, 3);
  const dirs = [["in", "packetsIn", "bytesIn"], ["out", "packetsOut", "bytesOut"]] as const;
  for (const [direction, pk, bk] of dirs) {
    const l = { ...svc, direction };
    assertEquals(value(samples, "lbts_service_packets_total", l), snap.services[0][pk]);
    assertEquals(value(samples, "lbts_service_bytes_total", l), snap.services[0][bk]);
  }
  assertEquals(value(samples, "lbts_service_bytes_total", { ...svc, direction: "in" }), 120);
  for (const real of snap.services[0].reals) {
    const l = { ...svc, real: `${real.address}:${real.port}` };
    assertEquals(value(samples, "lbts_real_connections_total", l), real.conns);
    assertEquals(value(samples, "lbts_real_active_connections", l), real.activeConns);
    assertEquals(value(samples, "lbts_real_inactive_connections", l), real.inactiveConns);
    assertEquals(value(samples, "lbts_real_weight", l), real.weight);
    for (const [direction, pk, bk] of dirs) {
      assertEquals(value(samples, "lbts_real_packets_total", { ...l, direction }), real[pk]);
      assertEquals(value(samples, "lbts_real_bytes_total", { ...l, direction }), real[bk]);
    }
  }
  const r1 = { ...svc, real: "10.0.0.11:80" };
  const r2 = { ...svc, real: "10.0.0.12:80" };
  assertEquals(value(samples, "lbts_real_connections_total", r1), 2); // rr: R1, R2, R1
  assertEquals(value(samples, "lbts_real_inactive_connections", r1), 2); // SYN_RECV
  assertEquals(value(samples, "lbts_real_up", r1), 1);
  assertEquals(value(samples, "lbts_real_up", r2), 0);
  assertEquals(value(samples, "lbts_real_weight", r2), 3);
  assertEquals(value(samples, "lbts_conntable_entries", {}), 3);
  assertEquals(value(samples, "lbts_conntable_capacity", {}), snap.capacity);
  for (const [event, n] of Object.entries(snap.table)) {
    assertEquals(value(samples, "lbts_conntable_events_total", { event }), n);
  }
  assertEquals(value(samples, "lbts_drops_total", { layer: "balancer", reason: "no_flow" }), 1);
  // Every stack counter is there once, drops under their reason.
  for (const [name, n] of Object.entries(counters)) {
    if (name.startsWith("drop.")) {
      assertEquals(
        value(samples, "lbts_drops_total", { layer: "stack", reason: name.slice(5) }),
        n,
      );
    } else if (name.startsWith("lb.drop_")) {
      assertEquals(
        value(samples, "lbts_drops_total", { layer: "balancer", reason: name.slice(8) }),
        n,
      );
    } else {
      assertEquals(value(samples, "lbts_stack_events_total", { name }), n);
    }
  }
  assertEquals(types.get("lbts_real_up"), "gauge");
  assertEquals(types.get("lbts_drops_total"), "counter");
  for (const name of types.keys()) {
    assertEquals(name.endsWith("_total"), types.get(name) === "counter", name);
  }
});

Deno.test("escapeLabel: backslash, quote and line feed", () => {
  assertEquals(escapeLabel('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
  const text = renderMetrics(
    { capacity: 1, connections: 0, embryonic: 0, table: {}, counters: {}, services: [] },
    { 'odd"name\n': 2 },
  );
  assert(text.includes('lbts_stack_events_total{name="odd\\"name\\n"} 2\n'), text);
});

Deno.test("renderMetrics: an IPv6 service's labels carry its addresses, the server's in brackets", () => {
  const r = rig6([{ method: "dr", reals: [{ index: 0 }, { index: 1 }] }]);
  r.send(frame6(LB6_MAC, CLIENT6_MAC, tcp6Packet(CLIENT6, VIP6, 40001, 80, SYN)));
  const { samples } = parse(renderMetrics(r.balancer.snapshot(), r.stack.counters.snapshot()));
  const svc = { protocol: "tcp", vip: "2001:db8::100", port: "80" };
  assertEquals(value(samples, "lbts_service_connections_total", svc), 1);
  assertEquals(
    value(samples, "lbts_real_connections_total", { ...svc, real: "[2001:db8::11]:80" }),
    1,
  );
  assertEquals(
    value(samples, "lbts_real_connections_total", { ...svc, real: "[2001:db8::12]:80" }),
    0,
  );
});
