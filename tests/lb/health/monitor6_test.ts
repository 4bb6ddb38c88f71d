/**
 * Health checks of IPv6 real servers over the stack's own TCP over IPv6: a balancer and a real
 * server (another stack) on an in-memory cable; the TCP check connects to the server's IPv6
 * address, finds it up while it listens and down once it refuses.
 */
import { assert, assertEquals } from "../../assert.ts";
import { createMemoryPair } from "../../../stack/link/memory.ts";
import { Stack } from "../../../stack/net/stack.ts";
import { Balancer } from "../../../lb/balancer.ts";
import { parseAddress } from "../../../lb/address.ts";
import { VirtualService } from "../../../lb/service.ts";
import { startHealthChecks } from "../../../lb/health/monitor.ts";

Deno.test("health checks reach IPv6 real servers over TCP/IPv6: up while listening, down when refused", async () => {
  const [dLb, dReal] = createMemoryPair({ queueLength: 256 });
  const lb = new Stack({
    device: dLb,
    address: 0x0a000001,
    prefix: 24,
    ipv6: ["2001:db8:5::1/64"],
    dad: false,
  });
  const real = new Stack({
    device: dReal,
    address: 0x0a000002,
    prefix: 24,
    ipv6: ["2001:db8:5::11/64"],
    dad: false,
  });
  const runs = [lb.start(), real.start()];
  const balancer = new Balancer(lb);
  const service = new VirtualService({
    protocol: "tcp",
    vip: parseAddress("2001:db8:5::100")!,
    port: 80,
    method: "nat",
  });
  balancer.addService(service);
  service.addReal({ address: parseAddress("2001:db8:5::11")! });
  const listener = real.listen({ hostname: "::", port: 80 });
  const events: string[] = [];
  const monitor = startHealthChecks(balancer, {
    check: { kind: "tcp" },
    timing: { intervalMs: 50, rise: 1, fall: 1 },
    timeoutMs: 500,
  }, (e) => events.push(`${e.real}: ${e.state}`));
  const until = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 100 && !cond(); i++) {
      lb.tick();
      await new Promise((r) => setTimeout(r, 20));
    }
    assert(cond(), what);
  };
  try {
    assertEquals(monitor.checkers().length, 1, "the IPv6 server is checked");
    const accepted = listener.accept();
    await until(() => lb.counters.get("tcp.active_opens") > 0, "a probe connected");
    (await accepted).close();
    assertEquals(service.reals[0].available, true);
    listener.close();
    await until(() => !service.reals[0].available, "refused: taken out of scheduling");
    assert(events.some((e) => /2001:db8:5::11\]?:80: down/.test(e)), events.join("\n"));
  } finally {
    monitor.stop();
    lb.close();
    real.close();
    await Promise.all(runs);
  }
});
