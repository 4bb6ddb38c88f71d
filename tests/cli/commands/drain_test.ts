import { assertEquals, assertThrows } from "../../assert.ts";
import {
  activeLeft,
  drainEntries,
  parseDrainArgs,
  weightZero,
} from "../../../cli/commands/drain.ts";
import { UsageError } from "../../../cli/args.ts";
import { adminOpToWire } from "../../../lb/admin.ts";
import type { BalancerSnapshot, RealSnapshot } from "../../../lb/balancer.ts";

function real(address: string, port: number, activeConns: number): RealSnapshot {
  return {
    address,
    port,
    weight: 1,
    method: "dr",
    activeConns,
    inactiveConns: 7,
    conns: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
  };
}

function service(protocol: string, vip: string, port: number, reals: RealSnapshot[]) {
  return {
    protocol,
    vip,
    port,
    scheduler: "rr",
    flags: "",
    conns: 0,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    reals,
  };
}

const SNAP: BalancerSnapshot = {
  capacity: 10,
  connections: 0,
  embryonic: 0,
  table: {},
  counters: {},
  services: [
    service("tcp", "10.0.0.100", 80, [real("10.0.0.11", 80, 3), real("10.0.0.12", 80, 1)]),
    service("tcp", "10.0.0.100", 443, [real("10.0.0.11", 443, 2)]),
    service("udp", "10.0.0.100", 53, [real("10.0.0.11", 53, 0)]),
  ],
};

Deno.test("parseDrainArgs: server, -t, timeout; bad input is a UsageError", () => {
  assertEquals(parseDrainArgs(["10.0.0.11"]), {
    target: { address: "10.0.0.11", port: null, service: null },
    timeoutMs: 300_000,
    control: "/run/lbts.sock",
  });
  assertEquals(
    parseDrainArgs(["10.0.0.11:443", "-t", "10.0.0.100:443", "--timeout", "2.5"]).target,
    { address: "10.0.0.11", port: 443, service: "10.0.0.100:443" },
  );
  assertEquals(parseDrainArgs(["10.0.0.11", "--timeout", "2.5"]).timeoutMs, 2500);
  for (
    const bad of [[], ["a", "b"], ["x.y"], ["10.0.0.11:0"], ["10.0.0.11", "-t", "10.0.0.100"], [
      "10.0.0.11",
      "--timeout",
      "-1",
    ]]
  ) {
    assertThrows(() => parseDrainArgs(bad), UsageError);
  }
});

Deno.test("parseDrainArgs: --all drains the whole instance (no server, no -t)", () => {
  assertEquals(parseDrainArgs(["--all"]), {
    target: null,
    timeoutMs: 30_000,
    control: "/run/lbts.sock",
  });
  assertEquals(parseDrainArgs(["--all", "--timeout", "5"]).timeoutMs, 5000);
  assertThrows(() => parseDrainArgs(["--all", "10.0.0.11"]), UsageError);
  assertThrows(() => parseDrainArgs(["--all", "-t", "10.0.0.100:80"]), UsageError);
});

Deno.test("drainEntries: every service holding the server, or the -t one, or the port", () => {
  const all = drainEntries(SNAP, { address: "10.0.0.11", port: null, service: null });
  assertEquals(all.map((e) => `${e.protocol} ${e.vport} ${e.port}`), [
    "tcp 80 80",
    "tcp 443 443",
    "udp 53 53",
  ]);
  assertEquals(activeLeft(SNAP, all), 5);
  const one = drainEntries(SNAP, { address: "10.0.0.11", port: null, service: "10.0.0.100:443" });
  assertEquals(one.length, 1);
  assertEquals(activeLeft(SNAP, one), 2);
  assertEquals(drainEntries(SNAP, { address: "10.0.0.11", port: 80, service: null }).length, 1);
  assertEquals(drainEntries(SNAP, { address: "10.0.0.99", port: null, service: null }), []);
  // A server removed meanwhile counts as drained.
  const gone = { ...SNAP, services: [SNAP.services[1]] };
  assertEquals(activeLeft(gone, all), 2);
});

Deno.test("weightZero: the edit-server change with u32 addresses", () => {
  const [e] = drainEntries(SNAP, { address: "10.0.0.12", port: null, service: null });
  assertEquals(weightZero(e), {
    op: "edit-server",
    service: { protocol: "tcp", vip: 0x0a000064, port: 80 },
    address: 0x0a00000c,
    port: 80,
    weight: 0,
  });
});

Deno.test("drain: IPv6 servers and services in brackets; the change names them as text", () => {
  const { target } = parseDrainArgs(["[2001:DB8::11]:80", "-t", "[2001:db8::100]:80"]);
  assertEquals(target, { address: "2001:db8::11", port: 80, service: "[2001:db8::100]:80" });
  const snap6: BalancerSnapshot = {
    ...SNAP,
    services: [service("tcp", "2001:db8::100", 80, [real("2001:db8::11", 80, 1)])],
  };
  const entries = drainEntries(snap6, target!);
  assertEquals(entries.length, 1);
  const wire = JSON.parse(JSON.stringify(adminOpToWire(weightZero(entries[0]))));
  assertEquals([wire.service.vip, wire.address, wire.weight], ["2001:db8::100", "2001:db8::11", 0]);
  assertThrows(() => parseDrainArgs(["[2001:db8::11]x"]), UsageError);
});
