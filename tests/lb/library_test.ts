/**
 * The balancer as mod.ts exports it: services and real servers added, changed and removed from
 * code (dotted-quad addresses), and the packets that follow from it on a Stack over a capturing
 * in-memory device (the fixture network of _rig.ts: VIP 10.0.0.100, reals .11 .12 .13).
 */
import { assert, assertEquals, assertThrows } from "../assert.ts";
import { Balancer, BalancerError, createMemoryDevice, FakeClock, Stack } from "../../mod.ts";
import { frame, SYN, tcpPacket } from "./_packets.ts";
import { CLIENT, CLIENT_MAC, LB, LB_MAC, REAL_MACS, VIP } from "./_rig.ts";

const MAC_TO_REAL = new Map([...REAL_MACS].map(([ip, m]) => [m.join(","), ip]));

function setup() {
  const device = createMemoryDevice({ mac: LB_MAC, capture: true });
  const stack = new Stack({ device, address: LB, prefix: 24, clock: new FakeClock(1000) });
  stack.arp.addStatic(CLIENT, CLIENT_MAC);
  for (const [a, m] of REAL_MACS) stack.arp.addStatic(a, m);
  const lb = new Balancer(stack);
  /** Sends the client's SYN from `sport`; the real server (u32) it was forwarded to, or null. */
  const syn = (sport: number): number | null => {
    const f = frame(
      LB_MAC,
      CLIENT_MAC,
      tcpPacket({ src: CLIENT, dst: VIP, sport, dport: 80, flags: SYN }),
    );
    const buf = new Uint8Array(f.length + 2);
    buf.set(f, 2);
    stack.input(buf, 2, f.length);
    const out = device.takeSent();
    return out.length === 0 ? null : MAC_TO_REAL.get(out[0].subarray(0, 6).join(",")) ?? -1;
  };
  return { stack, lb, syn };
}

Deno.test("balancer library: services and real servers from code, and the flows follow", () => {
  const { stack, lb, syn } = setup();
  const web = lb.addService({ vip: "10.0.0.100", port: 80, scheduler: "rr" });
  web.addReal({ address: "10.0.0.11" });
  web.addReal({ address: "10.0.0.12" });
  lb.attach();
  assert(stack.hasAddress(VIP), "the stack owns the VIP");
  assertEquals([syn(40001), syn(40002), syn(40003)], [0x0a00000b, 0x0a00000c, 0x0a00000b]);
  assertEquals(web.reals.map((r) => [r.address, r.port, r.weight, r.method]), [
    ["10.0.0.11", 80, 1, "dr"],
    ["10.0.0.12", 80, 1, "dr"],
  ]);
  assertEquals(web.reals.reduce((n, r) => n + r.activeConns + r.inactiveConns, 0), 3);

  // Weight 0 drains .11: new flows go to .12 only.
  web.editReal("10.0.0.11", { weight: 0 });
  assertEquals([syn(40004), syn(40005)], [0x0a00000c, 0x0a00000c]);
  // A third server, then .12 removed: everything new goes to .13.
  web.addReal({ address: "10.0.0.13", weight: 3 });
  assert(web.removeReal("10.0.0.12"));
  assertEquals(web.removeReal("10.0.0.12"), false);
  assertEquals(syn(40006), 0x0a00000d);

  assertEquals(lb.services.map((s) => `${s.protocol} ${s.vip}:${s.port}`), ["tcp 10.0.0.100:80"]);
  assert(lb.service("10.0.0.100", 80) !== null);
  assert(lb.removeService("10.0.0.100", 80));
  assertEquals(lb.services.length, 0);
  assertEquals(stack.hasAddress(VIP), false, "the VIP went with its last service");
  assertEquals(syn(40007), null);
  lb.detach();
});

Deno.test("balancer library: refused changes are BalancerErrors with the reason", () => {
  const { lb } = setup();
  const web = lb.addService({ vip: "10.0.0.100", port: 80 });
  web.addReal({ address: "10.0.0.11" });
  const cases: [() => unknown, RegExp][] = [
    [() => lb.addService({ vip: "10.0.0.100", port: 80 }), /already exists/],
    [() => lb.addService({ vip: "10.0.0.300", port: 80 }), /not an IPv4 or IPv6 address/],
    [() => lb.addService({ vip: "2001:db8::100", port: 80 }), /the stack has no IPv6 address/],
    [() => web.addReal({ address: "2001:db8::11" }), /must be of its VIP's family/],
    [() => lb.addService({ vip: "10.0.0.100", port: 0 }), /port 0/],
    [() => web.addReal({ address: "10.0.0.11" }), /already in/],
    [() => web.addReal({ address: "10.0.0.12", port: 8080 }), /needs -m \(nat\)/],
    [() => web.addReal({ address: "10.0.0.12", weight: 70000 }), /weight/],
    [() => web.editReal("10.0.0.99", { weight: 2 }), /no real server/],
  ];
  for (const [fn, message] of cases) {
    const e = assertThrows(fn, BalancerError);
    assert(message.test(e.message), `${e.message} !~ ${message}`);
  }
  // NAT may use another port.
  web.addReal({ address: "10.0.0.12", port: 8080, method: "nat" });
  assertEquals(web.reals[1].port, 8080);
});
