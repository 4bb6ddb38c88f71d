import { assertEquals } from "../../assert.ts";
import { REAL1, REAL2, REAL3, rig } from "../_rig.ts";
import { startHealthChecks } from "../../../lb/health/monitor.ts";
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
