/**
 * The balancer's state in Prometheus's text exposition format (version 0.0.4: `# HELP`, `# TYPE`,
 * then `name{label="value",...} value` lines; label values escape `\`, `"` and newline). Per
 * service and per real server: scheduled flows, packets and bytes in/out, active/inactive flows,
 * weight and health; the connection table's size, capacity and events; every stack counter, the
 * drops with their reason as a label. Metric names follow Prometheus's conventions (`_total` for
 * counters, base units: bytes). Control-path code: built on request from a snapshot.
 *
 * @module
 */

import type { BalancerSnapshot, RealSnapshot, ServiceSnapshot } from "./balancer.ts";

/** The Content-Type of the text format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Escapes a label value (exposition format: backslash, double quote, line feed). */
export function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

/** Collects samples per metric so each metric's HELP and TYPE come once, before its samples. */
class Families {
  readonly #order: string[] = [];
  readonly #families = new Map<string, { help: string; type: string; lines: string[] }>();

  add(name: string, type: "counter" | "gauge", help: string, labels: Labels, value: number): void {
    let f = this.#families.get(name);
    if (f === undefined) {
      f = { help, type, lines: [] };
      this.#families.set(name, f);
      this.#order.push(name);
    }
    f.lines.push(`${name}${labelText(labels)} ${Number.isFinite(value) ? value : "NaN"}`);
  }

  text(): string {
    const out: string[] = [];
    for (const name of this.#order) {
      const f = this.#families.get(name)!;
      out.push(`# HELP ${name} ${f.help}`, `# TYPE ${name} ${f.type}`, ...f.lines);
    }
    return out.join("\n") + "\n";
  }
}

function serviceLabels(s: ServiceSnapshot): Labels {
  return { protocol: s.protocol, vip: s.vip, port: String(s.port) };
}

function realLabels(s: ServiceSnapshot, r: RealSnapshot): Labels {
  const host = r.address.includes(":") ? `[${r.address}]` : r.address;
  return { ...serviceLabels(s), real: `${host}:${r.port}` };
}

/** The traffic counters a service and a real server both have. */
interface Traffic {
  conns: number;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
}

/**
 * `lbts_<kind>_connections_total` and the packets and bytes families in both directions
 * (`direction="in"|"out"`), for a service or a real server.
 */
function addTraffic(
  f: Families,
  kind: "service" | "real",
  l: Labels,
  t: Traffic,
  help: { conns: string; packets: string; bytes: string },
): void {
  f.add(`lbts_${kind}_connections_total`, "counter", help.conns, l, t.conns);
  for (
    const [direction, packets, bytes] of [
      ["in", t.packetsIn, t.bytesIn],
      ["out", t.packetsOut, t.bytesOut],
    ] as const
  ) {
    const ld = { ...l, direction };
    f.add(`lbts_${kind}_packets_total`, "counter", help.packets, ld, packets);
    f.add(`lbts_${kind}_bytes_total`, "counter", help.bytes, ld, bytes);
  }
}

/**
 * The exposition text for `snap` and the stack's counters (`Counters.snapshot()`): "drop.X" and
 * "lb.drop_X" become `lbts_drops_total{layer="stack"|"balancer",reason="X"}`, every other counter
 * `lbts_stack_events_total{name="..."}`.
 */
export function renderMetrics(
  snap: BalancerSnapshot,
  stackCounters: Record<string, number>,
): string {
  const f = new Families();
  for (const s of snap.services) {
    addTraffic(f, "service", serviceLabels(s), s, {
      conns: "Flows scheduled by the service.",
      packets: "Packets forwarded by the service.",
      bytes: "IP bytes forwarded by the service.",
    });
  }
  for (const s of snap.services) {
    for (const r of s.reals) {
      const l = realLabels(s, r);
      addTraffic(f, "real", l, r, {
        conns: "Flows scheduled to the real server.",
        packets: "Packets to/from the real server.",
        bytes: "IP bytes to/from the real server.",
      });
      f.add("lbts_real_active_connections", "gauge", "Flows in ESTABLISHED.", l, r.activeConns);
      f.add(
        "lbts_real_inactive_connections",
        "gauge",
        "Flows in other states.",
        l,
        r.inactiveConns,
      );
      f.add("lbts_real_weight", "gauge", "Scheduling weight.", l, r.weight);
      f.add("lbts_real_up", "gauge", "Health: 1 up, 0 down.", l, r.available === false ? 0 : 1);
    }
  }
  f.add("lbts_conntable_entries", "gauge", "Flows in the connection table.", {}, snap.connections);
  f.add("lbts_conntable_capacity", "gauge", "Connection-table bound.", {}, snap.capacity);
  f.add(
    "lbts_conntable_embryonic",
    "gauge",
    "Flows without a completed handshake (evicted first when the table is full).",
    {},
    snap.embryonic,
  );
  for (const [event, n] of Object.entries(snap.table)) {
    f.add("lbts_conntable_events_total", "counter", "Connection-table events.", { event }, n);
  }
  const names = Object.keys(stackCounters).sort();
  for (const name of names) {
    const v = stackCounters[name];
    if (name.startsWith("drop.")) {
      const reason = name.slice(5);
      f.add("lbts_drops_total", "counter", "Dropped packets by reason.", {
        layer: "stack",
        reason,
      }, v);
    } else if (name.startsWith("lb.drop_")) {
      const reason = name.slice(8);
      f.add("lbts_drops_total", "counter", "Dropped packets by reason.", {
        layer: "balancer",
        reason,
      }, v);
    } else {
      f.add("lbts_stack_events_total", "counter", "Stack and balancer event counters.", {
        name,
      }, v);
    }
  }
  return f.text();
}
