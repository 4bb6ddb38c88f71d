import { assert, assertEquals } from "../../assert.ts";
import { REAL1, REAL2, REAL3, rig } from "../_rig.ts";
import { type HealthConfig, startHealthChecks } from "../../../lb/health/monitor.ts";
import { DEFAULT_TIMING } from "../../../lb/health/checker.ts";
import { formatIpv4 } from "../../../stack/wire/address.ts";

Deno.test("startHealthChecks: one checker per TCP real server, following adds and removes", () => {
  const r = rig({
    services: [
      { method: "dr", reals: [{ address: REAL1 }, { address: REAL2 }] },
      { protocol: "udp", port: 53, method: "dr", reals: [{ address: REAL1 }] },
    ],
  });
  const monitor = startHealthChecks(r.balancer, {
    check: { kind: "tcp" },
    timing: { intervalMs: 1000, rise: 1, fall: 1 },
    timeoutMs: 500,
  }, () => {});
  try {
    const names = () => monitor.checkers().map((c) => formatIpv4(c.real.address));
    assertEquals(names(), ["10.0.0.11", "10.0.0.12"]); // the UDP service is not checked
    const tcp = r.balancer.services.list()[0];
    tcp.addReal({ address: REAL3 });
    r.stack.tick();
    assertEquals(names(), ["10.0.0.11", "10.0.0.12", "10.0.0.13"]);
    tcp.removeReal(REAL1);
    r.stack.tick();
    assertEquals(names(), ["10.0.0.12", "10.0.0.13"]);
  } finally {
    monitor.stop();
    r.stack.close();
  }
});

Deno.test("startHealthChecks: per-service checks; a changed check restarts that service's", () => {
  const r = rig({
    services: [
      { method: "dr", reals: [{ address: REAL1 }, { address: REAL2 }] },
      { port: 81, method: "dr", reals: [{ address: REAL1 }] },
    ],
  });
  const tcp = { check: { kind: "tcp" as const }, timing: DEFAULT_TIMING, timeoutMs: 500 };
  let own: HealthConfig | null = null;
  const monitor = startHealthChecks(r.balancer, (s) => s.port === 81 ? own : tcp, () => {});
  try {
    const checked = () =>
      monitor.checkers().map((c) => `${formatIpv4(c.real.address)}`).sort().join(" ");
    assertEquals(checked(), "10.0.0.11 10.0.0.12"); // port 81 has no check
    const s81 = r.balancer.services.list()[1];
    own = { ...tcp, timing: { ...DEFAULT_TIMING, fall: 1 } };
    r.stack.tick();
    assertEquals(checked(), "10.0.0.11 10.0.0.11 10.0.0.12");
    // Its checker takes the server down; another check for the service starts it up again.
    const c81 = monitor.checkers().find((c) => c.real === s81.reals[0])!;
    c81.apply("refused");
    assertEquals(s81.reals[0].available, false);
    own = { ...tcp, timing: { ...DEFAULT_TIMING, fall: 2 } };
    r.stack.tick();
    assertEquals(s81.reals[0].available, true);
    assert(monitor.checkers().every((c) => c !== c81));
    // The other service's checkers were not replaced.
    monitor.checkers().find((c) => c.real === s81.reals[0])!.apply("refused");
    assertEquals(s81.reals[0].available, true); // fall 2: one failure is not enough
    // Checks removed: the service's servers are no longer checked, and not left down.
    monitor.checkers().find((c) => c.real === s81.reals[0])!.apply("refused");
    assertEquals(s81.reals[0].available, false);
    own = null;
    r.stack.tick();
    assertEquals(s81.reals[0].available, true);
    assertEquals(checked(), "10.0.0.11 10.0.0.12");
  } finally {
    monitor.stop();
    r.stack.close();
  }
});

Deno.test("startHealthChecks: a replaced checker's late probe result changes nothing", () => {
  const r = rig({ services: [{ method: "dr", reals: [{ address: REAL1 }] }] });
  const a = {
    check: { kind: "tcp" as const },
    timing: { ...DEFAULT_TIMING, fall: 1 },
    timeoutMs: 1,
  };
  let cfg: HealthConfig = a;
  const monitor = startHealthChecks(r.balancer, () => cfg, () => {});
  try {
    const old = monitor.checkers()[0];
    cfg = { ...a }; // another object: the service's check changed
    r.stack.tick();
    assert(monitor.checkers()[0] !== old);
    // The old checker's probe, in flight during the change, fails: the server stays up.
    old.apply("connection refused");
    assertEquals(old.real.available, true);
    monitor.checkers()[0].apply("connection refused");
    assertEquals(old.real.available, false);
    monitor.stop();
    assertEquals(old.real.available, true); // nothing checks it any more
  } finally {
    monitor.stop();
    r.stack.close();
  }
});
